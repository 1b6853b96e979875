package webadmin

import (
	"github.com/matthan/matthan/hwtest/testenv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/discovery"
	"github.com/matthan/matthan/daemon/pairing"
	"github.com/matthan/matthan/hwtest/camsim"
)

// TestCameraNetworkPairingPage: pairing through the page with a
// simulated camera's ONVIF service: open, login (a wrong one not sent
// twice), pair to a household (officers only), change the camera's
// password; the camera password appears in no answer, audit line or log,
// only in the camera records on the data partition.
func TestCameraNetworkPairingPage(t *testing.T) {
	env := newTestEnv(t)
	var logs testenv.SyncBuffer
	env.s.log = slog.New(slog.NewTextHandler(&logs, nil))
	var plogs testenv.SyncBuffer
	dev := &camsim.Device{Maker: "Hikvision", Model: "DS-2CD1023G0-I", Serial: "DS-1234", User: "admin", Password: "Factory-Pw-77",
		MainURI: "rtsp://127.0.0.1:8554/cam9", SubURI: "rtsp://127.0.0.1:8554/cam9/sub", Skew: -2 * time.Hour}
	mux := http.NewServeMux()
	mux.Handle("/onvif/", dev)
	camSrv := httptest.NewServer(mux)
	defer camSrv.Close()
	m := pairing.New(pairing.Config{Records: env.s.cams, Policy: camnet.Policy{AllowLoopback: true},
		Logf: func(f string, a ...any) { plogs.Write([]byte(f + "\n")) }})
	env.s.cfg.Pairing = m

	tech, off, house := env.login("tech"), env.login("officer"), env.login("house1")
	if code, _ := house.do("GET", "/api/pairing", "", ""); code != http.StatusForbidden {
		t.Fatalf("household sees pairing: %d", code)
	}
	code, body := tech.do("POST", "/api/pairing", `{"open":true}`, "")
	if code != 200 || !strings.Contains(body, `"open":true`) {
		t.Fatalf("open: %d %s", code, body)
	}
	f := discovery.Found{Endpoint: "urn:uuid:cam9", Addr: netip.MustParseAddr("127.0.0.1"), Device: camSrv.URL + "/onvif/device_service", MAC: "02:00:00:00:00:09"}
	m.Found(f)
	key := pairing.CandidateKey(f)
	_, body = tech.do("GET", "/api/pairing", "", "")
	if !strings.Contains(body, key) || !strings.Contains(body, "02:00:00:00:00:09") {
		t.Fatalf("candidate not listed: %s", body)
	}
	code, body = tech.do("POST", "/api/pairing/"+key+"/login", `{"user":"admin","password":"Wrong-Pw-1"}`, "")
	if code != 200 || !strings.Contains(body, `"state":"wrong_password"`) {
		t.Fatalf("wrong login: %d %s", code, body)
	}
	if code, _ = tech.do("POST", "/api/pairing/"+key+"/login", `{"user":"admin","password":"Wrong-Pw-1"}`, ""); code != http.StatusConflict {
		t.Fatalf("same wrong login again: %d", code)
	}
	if dev.Failures() != 1 {
		t.Fatalf("camera saw %d failed logins", dev.Failures())
	}
	code, body = off.do("POST", "/api/pairing/"+key+"/login", `{"user":"admin","password":"Factory-Pw-77"}`, "")
	if code != 200 || !strings.Contains(body, `"state":"ready"`) || !strings.Contains(body, "rtsp://127.0.0.1:8554/cam9/sub") {
		t.Fatalf("login: %d %s", code, body)
	}
	if code, _ = tech.do("POST", "/api/pairing/"+key+"/pair", `{"id":"cam9","name":"Cổng nhà A 2","household":"h1"}`, ""); code != http.StatusForbidden {
		t.Fatalf("technician paired: %d", code)
	}
	if code, body = off.do("POST", "/api/pairing/"+key+"/pair", `{"id":"cam9","name":"Cổng nhà A 2"}`, ""); code != http.StatusBadRequest {
		t.Fatalf("no household, not road: %d %s", code, body)
	}
	code, body = off.do("POST", "/api/pairing/"+key+"/pair", `{"id":"cam9","name":"Cổng nhà A 2","household":"h1"}`, "")
	if code != 200 {
		t.Fatalf("pair: %d %s", code, body)
	}
	var answers []string
	answers = append(answers, body)
	_, body = house.do("GET", "/api/cameras", "", "")
	answers = append(answers, body)
	if !strings.Contains(body, `"cam9"`) {
		t.Errorf("household h1 does not see its new camera: %s", body)
	}
	if _, b := env.login("house2").do("GET", "/api/cameras", "", ""); strings.Contains(b, `"cam9"`) {
		t.Errorf("household h2 sees h1's new camera")
	}
	_, body = off.do("GET", "/api/cameras", "", "")
	answers = append(answers, body)
	found := strings.Contains(body, `"url":"rtsp://admin@127.0.0.1:8554/cam9"`) && strings.Contains(body, `"subUrl":"rtsp://admin@127.0.0.1:8554/cam9/sub"`)
	if !found {
		t.Errorf("cam9 as the page shows it: %s", body)
	}
	// The factory password changed on the camera through ONVIF SetUser.
	code, body = off.do("POST", "/api/cameras/cam9/camera-password", `{"password":"New-Strong-Pw-5"}`, "")
	if code != 200 || dev.CurrentPassword() != "New-Strong-Pw-5" {
		t.Fatalf("password change: %d %s (camera has %q)", code, body, dev.CurrentPassword())
	}
	answers = append(answers, body)
	_, body = off.do("GET", "/api/audit", "", "")
	answers = append(answers, body)
	if !strings.Contains(body, "camera paired") || !strings.Contains(body, "camera password changed") {
		t.Errorf("audit lacks the pairing: %s", body)
	}
	_, body = tech.do("GET", "/api/pairing", "", "")
	answers = append(answers, body)
	answers = append(answers, logs.String(), plogs.String())
	for _, a := range answers {
		for _, pw := range []string{"Factory-Pw-77", "New-Strong-Pw-5", "Wrong-Pw-1"} {
			if strings.Contains(a, pw) {
				t.Errorf("a camera password shows: %.300s", a)
			}
		}
	}
	if file := env.camerasFile(); !strings.Contains(file, "New-Strong-Pw-5") || !strings.Contains(file, `"mac": "02:00:00:00:00:09"`) {
		t.Errorf("cameras.json on the data partition: %s", file)
	}
}

// A camera added by hand gets its sub stream from the known layout, and
// edits keep what the camera said of itself.
func TestCameraPutSubStream(t *testing.T) {
	env := newTestEnv(t)
	off := env.login("officer")
	code, body := off.do("POST", "/api/cameras", `{"id":"hik1","name":"Hik","url":"rtsp://admin:pw123456@10.0.0.8/Streaming/Channels/101","household":"h1"}`, "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	c, _ := env.s.cams.Get("hik1")
	if c.SubURL != "rtsp://admin:pw123456@10.0.0.8/Streaming/Channels/102" {
		t.Fatalf("sub %q", c.SubURL)
	}
	c.MAC, c.Serial, c.Paired = "02:00:00:00:00:08", "S8", true
	env.s.cams.Put(c)
	code, body = off.do("POST", "/api/cameras", `{"id":"hik1","name":"Hik 2","url":"rtsp://admin@10.0.0.8/Streaming/Channels/101","household":"h1"}`, "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	c, _ = env.s.cams.Get("hik1")
	if c.Name != "Hik 2" || c.MAC != "02:00:00:00:00:08" || !c.Paired || c.SubURL != "rtsp://admin:pw123456@10.0.0.8/Streaming/Channels/102" || c.URL != "rtsp://admin:pw123456@10.0.0.8/Streaming/Channels/101" {
		t.Fatalf("after edit: %+v", c)
	}
}
