package webadmin

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/diag"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/lights"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// fakeDiag is the daemon's diagnostics in the tests.
type fakeDiag struct{ segs []diag.Segment }

func (fakeDiag) Cameras() []diag.Camera {
	return []diag.Camera{{Name: "cam1", URL: "rtsp://h/cam1", State: "recording"}, {Name: "cam2", State: "offline"}}
}

func (f fakeDiag) Segments(camera string, from, to time.Time) []diag.Segment {
	var out []diag.Segment
	for _, s := range f.segs {
		if s.Camera == camera && s.End.After(from) && s.Start.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

func (fakeDiag) Recent(n int) []events.Event {
	evs := []events.Event{{Type: events.CameraOffline, Camera: "cam2", Start: t0}}
	return evs[:min(n, len(evs))]
}

func (fakeDiag) Started() time.Time { return t0.Add(-time.Hour) }

// fakeLights is an IR controller without GPIO.
type fakeLights struct {
	mu   sync.Mutex
	mode lights.Mode
}

func (f *fakeLights) LightsPanel() lights.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return lights.State{IRStatus: lights.IRStatus{Mode: f.mode, On: f.mode == lights.On}, StatusLED: "booting"}
}

func (f *fakeLights) SetIRMode(m lights.Mode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
	return nil
}

// The daemon's diagnostics, now rows of the page's route table, answer
// as the daemon's own API did.
func TestDaemonRoutes(t *testing.T) {
	env := newTestEnv(t)
	officer := env.login("officer")
	for _, tt := range []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/api/daemon/health", 200, `"uptimeSeconds"`},
		{"/api/daemon/health?x=1", 400, `unknown parameter`},
		{"/api/daemon/cameras", 200, `"name": "cam1"`},
		{"/api/daemon/segments?camera=cam1&from=2026-11-26T09:00:00Z&to=2026-11-26T10:00:00Z", 200, `"file": "cam1/2026-11-26/20261126T095000.000Z.mp4"`},
		{"/api/daemon/segments?camera=cam1&from=2026-11-26T08:00:00Z&to=2026-11-26T09:00:00Z", 200, `[]`},
		{"/api/daemon/segments?camera=cam1&from=2026-11-26T16:45:00%2B07:00&to=2026-11-26T17:00:00%2B07:00", 200, `"bytes": 13`},
		{"/api/daemon/segments?camera=nope", 404, `no camera`},
		{"/api/daemon/segments", 400, `camera is required`},
		{"/api/daemon/segments?camera=cam1&from=yesterday", 400, `RFC 3339`},
		{"/api/daemon/segments?camera=cam1&from=2026-11-26T10:00:00Z&to=2026-11-26T09:00:00Z", 400, `must be after`},
		{"/api/daemon/segments?camera=cam1&camera=cam2", 400, `given 2 times`},
		{"/api/daemon/segments?camera=cam1&form=2026-11-26T10:00:00Z", 400, `unknown parameter \"form\"`},
		{"/api/daemon/segments?camera=cam1&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, `longer than the limit`},
		{"/api/daemon/segments?camera=%zz", 400, `malformed query`},
		// No video leaves through the diagnostics: saving a recording is
		// the signed, audited export, watching it the audited playback.
		{"/api/daemon/recordings/cam1/2026-11-26/20261126T095000.000Z.mp4", 404, ``},
		{"/api/daemon/export?camera=cam1&from=2026-11-26T09:45:00Z&to=2026-11-26T09:55:00Z", 404, ``},
		{"/api/daemon/events", 200, `"type": "camera_offline"`},
		{"/api/daemon/events?limit=0", 400, `limit`},
		{"/api/daemon/events?limit=abc", 400, `limit`},
	} {
		t.Run(tt.path, func(t *testing.T) {
			code, body := officer.do("GET", tt.path, "", "")
			if code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantStatus, tt.wantBody)
			}
			if code >= 400 && code != 404 {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
					t.Fatalf("error body is not JSON {error}: %q", body)
				}
			}
		})
	}
}

// /api/lights: staff read and set the IR mode (JSON or form, with the
// CSRF token); the change is audited; bad input is a 400.
func TestLightsRoute(t *testing.T) {
	env := newTestEnv(t)
	tech := env.login("tech")
	for _, tt := range []struct {
		method, ctype, body string
		code                int
		mode                lights.Mode
	}{
		{"GET", "", "", 200, lights.Auto},
		{"POST", "application/json", `{"mode":"on"}`, 200, lights.On},
		{"POST", "application/x-www-form-urlencoded", "mode=off", 200, lights.Off},
		{"POST", "application/json", `{"mode":"blink"}`, 400, lights.Off},
		{"POST", "application/json", `{"mode":`, 400, lights.Off},
		{"POST", "text/plain", strings.Repeat("x", 5000), 400, lights.Off},
		{"DELETE", "", "", 404, lights.Off}, // as every method the table lacks
		{"POST", "application/json", `{"mode":"auto"}`, 200, lights.Auto},
	} {
		code, body := tech.do(tt.method, "/api/lights", tt.body, tt.ctype)
		if code != tt.code {
			t.Fatalf("%s %q: status %d, want %d: %s", tt.method, tt.body, code, tt.code, body)
		}
		if got := env.lights.LightsPanel().Mode; got != tt.mode {
			t.Fatalf("%s %q: mode %q, want %q", tt.method, tt.body, got, tt.mode)
		}
		if tt.code == 200 && !strings.Contains(body, `"status_led": "booting"`) {
			t.Errorf("%s %q: answer %s", tt.method, tt.body, body)
		}
	}
	// Without the CSRF token a change is refused.
	req, _ := http.NewRequest("POST", env.srv.URL+"/api/lights", strings.NewReader(`{"mode":"on"}`))
	resp, err := tech.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || env.lights.LightsPanel().Mode != lights.Auto {
		t.Fatalf("POST without CSRF: %d, mode %s", resp.StatusCode, env.lights.LightsPanel().Mode)
	}
	recs, _ := env.s.audit.Read(audit.Filter{Actor: "tech", Action: audit.Change}, 100)
	n := 0
	for _, r := range recs {
		if strings.HasPrefix(r.Detail, "IR lights mode") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d IR mode changes audited, want 3", n)
	}
}

// A box without GPIO says so.
func TestLightsWithoutGPIO(t *testing.T) {
	env := newTestEnv(t)
	env.s.cfg.LightsControl = nil
	code, body := env.login("officer").do("GET", "/api/lights", "", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, lights.NoGPIO) {
		t.Fatalf("%d %s", code, body)
	}
}

func TestParseRangeQueryDefaults(t *testing.T) {
	now := t0
	for _, tt := range []struct {
		q        string
		from, to time.Time
	}{
		{"camera=a", now.Add(-time.Hour), now},
		{"camera=a&to=2026-11-26T09:00:00Z", t0.Add(-2 * time.Hour), t0.Add(-time.Hour)},
		{"camera=a&from=2026-11-26T07:00:00Z", t0.Add(-3 * time.Hour), now},
		{"camera=a&from=2026-11-26T11:00:00Z", t0.Add(time.Hour), t0.Add(2 * time.Hour)},
	} {
		q, err := ParseRangeQuery(tt.q, now, diag.MaxSegmentRange)
		if err != nil {
			t.Fatalf("%s: %v", tt.q, err)
		}
		if !q.From.Equal(tt.from) || !q.To.Equal(tt.to) {
			t.Errorf("%s: got %v..%v, want %v..%v", tt.q, q.From, q.To, tt.from, tt.to)
		}
	}
}

func FuzzParseRangeQuery(f *testing.F) {
	for _, s := range []string{"camera=cam1", "camera=a&from=2026-11-26T07:00:00Z&to=2026-11-26T08:00:00Z",
		"camera=a&from=2026-11-26T07:00:00.123456789%2B07:00", "camera=%zz", "from=&to=&camera=", "camera=a&camera=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseRangeQuery(raw, t0, diag.MaxSegmentRange)
		if err != nil {
			return
		}
		if !cameraNameRE.MatchString(q.Camera) || !q.To.After(q.From) || q.To.Sub(q.From) > diag.MaxSegmentRange {
			t.Fatalf("accepted bad query %q: %+v", raw, q)
		}
	})
}

func FuzzParseLimit(f *testing.F) {
	f.Add("limit=10")
	f.Add("limit=-1")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := ParseLimit(raw)
		if err == nil && (n < 1 || n > diag.MaxEvents) {
			t.Fatalf("%q -> %d", raw, n)
		}
	})
}
