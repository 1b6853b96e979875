package webadmin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/webrtc"
	"github.com/matthan/matthan/daemon/webrtc/webrtctest"
)

// withRTC gives env a real WebRTC server (on a loopback UDP port) over its hub.
func withRTC(t testing.TB, env *testEnv) *webrtc.Server {
	t.Helper()
	rtc, err := webrtc.New(webrtc.Config{Address: "127.0.0.1:0", Source: env.hub})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtc.Close() })
	env.s.cfg.LiveRTC = rtc
	return rtc
}

// offerRTC posts a viewer's offer for path and connects it.
func (c *client) offerRTC(t *testing.T, path string, n int) *webrtctest.Viewer {
	t.Helper()
	v := webrtctest.NewViewer(t, n)
	b, _ := json.Marshal(map[string]string{"sdp": v.Offer})
	code, body := c.do("POST", path, string(b), "")
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, code, body)
	}
	var ans struct{ Type, SDP string }
	if err := json.Unmarshal([]byte(body), &ans); err != nil || ans.Type != "answer" {
		t.Fatalf("answer %q: %v", body, err)
	}
	v.Accept(t, ans.SDP)
	v.WaitState(t, 5*time.Second, pion.PeerConnectionStateConnected)
	return v
}

func TestLiveRTCAnswersAndAudits(t *testing.T) {
	env := newTestEnv(t)
	withRTC(t, env)
	c := env.login("house1")
	c.offerRTC(t, "/api/webrtc/cam1", 1)
	c.offerRTC(t, "/api/webrtc?camera=cam1&camera=cam3&stream=sub", 2)
	recs, _ := env.s.audit.Read(audit.Filter{Actor: "house1", Action: audit.LiveView}, 100)
	if len(recs) != 3 {
		t.Errorf("%d live views audited, want 3: %+v", len(recs), recs)
	}
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/api/webrtc/cam2", `{"sdp":"x"}`, http.StatusForbidden}, // a foreign camera
		{"/api/webrtc/cam1", `{"sdp":"v=0 garbage"}`, http.StatusBadRequest},
		{"/api/webrtc/cam1", `{"offer":1}`, http.StatusBadRequest},
		{"/api/webrtc?camera=cam1&camera=cam1", `{"sdp":"x"}`, http.StatusBadRequest},
	} {
		if code, body := c.do("POST", tc.path, tc.body, ""); code != tc.want {
			t.Errorf("POST %s %s: %d %s, want %d", tc.path, tc.body, code, body, tc.want)
		}
	}
	// Without the CSRF token: refused before any session opens.
	c2 := env.login("house1")
	c2.csrf = ""
	if code, _ := c2.do("POST", "/api/webrtc/cam1", `{"sdp":"x"}`, ""); code != http.StatusForbidden {
		t.Errorf("without CSRF token: %d, want 403", code)
	}
}

// Ending a login session in any way closes its WebRTC sessions within 1 s,
// as it closes its MSE streams.
func TestSessionEndClosesWebRTC(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(env *testEnv, c *client)
	}{
		{"logout", func(env *testEnv, c *client) { c.form("/logout", url.Values{"csrf": {c.csrf}}) }},
		{"account deleted", func(env *testEnv, c *client) {
			env.login("officer").do("POST", "/api/users/house1/delete", `{}`, "")
		}},
		{"expiry", func(env *testEnv, c *client) { env.s.sessions.SetLimits(time.Millisecond, time.Hour) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			rtc := withRTC(t, env)
			c := env.login("house1")
			v := c.offerRTC(t, "/api/webrtc/cam1", 1)
			if rtc.Sessions() != 1 {
				t.Fatalf("%d sessions, want 1", rtc.Sessions())
			}
			time.Sleep(300 * time.Millisecond) // both ends' handshakes done
			start := time.Now()
			tt.end(env, c)
			v.WaitState(t, time.Second+100*time.Millisecond, pion.PeerConnectionStateClosed, pion.PeerConnectionStateFailed, pion.PeerConnectionStateDisconnected)
			took := time.Since(start)
			if took > time.Second || rtc.Sessions() != 0 {
				t.Errorf("WebRTC closed %v after the session ended (%d sessions left), want within 1 s", took, rtc.Sessions())
			}
			t.Logf("WebRTC closed %v after the session was ended", took)
		})
	}
}
