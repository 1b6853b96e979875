package box

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/camsim"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/matthan/matthan/webadmin"
)

// startDaemon runs the daemon in this process until the test ends; it
// returns the console text source and the HTTPS and HTTP bases.
func startDaemon(t *testing.T, cfg *config.Config) (console *testenv.SyncBuffer, httpsBase, httpBase string) {
	t.Helper()
	return startDaemonWith(t, cfg, Options{})
}

// startDaemonWith is startDaemon with options (the console is set here).
func startDaemonWith(t *testing.T, cfg *config.Config, opt Options) (console *testenv.SyncBuffer, httpsBase, httpBase string) {
	t.Helper()
	cfg.Listen, cfg.ListenTLS = testenv.FreeAddr(t).String(), testenv.FreeAddr(t).String()
	console = &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(console, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opt.Console = console
	go func() { done <- RunWith(ctx, cfg, log, opt) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("daemon did not stop within 20 s")
		}
		if t.Failed() {
			s := console.String()
			t.Logf("--- daemon output (last 6 KB) ---\n%s", s[max(0, len(s)-6144):])
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(console.String(), ReadyMessage) {
		select {
		case err := <-done:
			t.Fatalf("daemon exited: %v\n%s", err, console.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready:\n%s", console.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return console, "https://" + cfg.ListenTLS, "http://" + cfg.Listen
}

// TestNoCamerasStarts: a fresh box with no cameras serves the admin page
// and the setup code (it used to exit with status 2 and restart-loop).
func TestNoCamerasStarts(t *testing.T) {
	cfg, err := config.FromArgs([]string{"-data", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	console, httpsBase, httpBase := startDaemon(t, cfg)
	out := console.String()
	code, fp := adminclient.SetupCode(out), adminclient.Fingerprint(out)
	if code == "" || fp == "" || adminclient.AdminURL(out) != httpsBase {
		t.Fatalf("console lacks setup code, fingerprint or admin URL %s:\n%s", httpsBase, out)
	}
	plain := adminclient.NewHTTPClient(fp)
	resp, err := plain.Get(httpBase + "/api/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain HTTP /api/health: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = plain.Get(httpBase + "/live")
	if err != nil || resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), httpsBase+"/live") {
		t.Fatalf("plain HTTP /live: %v %+v", err, resp)
	}
	resp.Body.Close()
	officer, err := adminclient.FirstBoot(context.Background(), httpsBase, code, fp)
	if err != nil {
		t.Fatal(err)
	}
	var cams struct{ Cameras []webadmin.CameraState }
	if err := officer.GetJSON(context.Background(), "/api/cameras", &cams); err != nil || len(cams.Cameras) != 0 {
		t.Fatal(err, cams)
	}
	resp, err = officer.Do(context.Background(), "GET", "/api/lights", nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("lights without GPIO: %v %+v", err, resp)
	}
	resp.Body.Close()
}

// TestWiredDaemon runs the daemon over a simulated camera: every /api
// route needs a login; the page's segment list downloads; a camera added
// on the page records without a restart, and stops when deleted.
func TestWiredDaemon(t *testing.T) {
	clips := testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "clips", camsim.ClipMoving720), "make clips")
	sim, err := camsim.Start(camsim.Config{Listen: "127.0.0.1:0", Cameras: 2, ClipsDir: filepath.Dir(clips), NoH265Camera: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	rtsp := "rtsp://" + sim.Addr()
	cfg, err := config.FromArgs([]string{"-data", t.TempDir(), "-allow-loopback-cameras", "-camera", "cam1=" + rtsp + "/cam1," + rtsp + "/cam1/sub"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	console, base, _ := startDaemon(t, cfg)
	ctx := context.Background()
	out := console.String()
	fp := adminclient.Fingerprint(out)

	// Nothing but health without a login (a path that is no route is a
	// 404 for everyone: /api/daemon/export?camera=cam1 gives nothing).
	anon := adminclient.NewHTTPClient(fp)
	for _, p := range []string{"/api/cameras", "/api/segments?camera=cam1", "/api/daemon/cameras", "/api/daemon/health",
		"/api/daemon/events", "/api/daemon/segments?camera=cam1", "/api/recordings/cam1/x.mp4", "/api/lights"} {
		resp, err := anon.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without login: %s, want 401", p, resp.Status)
		}
	}
	officer, err := adminclient.FirstBoot(ctx, base, adminclient.SetupCode(out), fp)
	if err != nil {
		t.Fatal(err)
	}
	tech, err := adminclient.Login(ctx, base, fp, adminclient.Technician)
	if err != nil {
		t.Fatal(err)
	}
	// The diagnostic API is the officers': a technician sees no video.
	if resp, err := tech.Do(ctx, "GET", "/api/daemon/cameras", nil); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("technician on /api/daemon/cameras: %v %v", err, resp)
	}
	// On the host there is no GPIO, and the system page says so.
	var sys map[string]any
	if err := tech.GetJSON(ctx, "/api/system", &sys); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(sys), "no GPIO") {
		t.Errorf("system page does not say there is no GPIO: %v", sys)
	}

	// cam1 records; the listed segments download.
	files := waitSegments(t, officer, "cam1", 30*time.Second)
	for _, f := range files {
		resp, err := officer.Do(ctx, "GET", "/api/recordings/cam1/"+url.PathEscape(f), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) < 500 || !bytes.Contains(b[:64], []byte("ftyp")) {
			t.Errorf("download %s: %s, %d bytes", f, resp.Status, len(b))
		}
	}
	for _, bad := range []string{"..%2F..%2Fweb%2Faccounts.json", "%2E%2E", "cam1%2F" + files[0], files[0] + "x", "20990101T000000.000Z.mp4"} {
		resp, err := officer.Do(ctx, "GET", "/api/recordings/cam1/"+bad, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("download %q: %s, want refused", bad, resp.Status)
		}
	}
	// Every download left an audit line (one per file viewed), and no video
	// leaves through the diagnostic API, which has no audit line: saving
	// is the page's signed export (issue 9, item 10).
	var played struct{ Records []struct{ Detail string } }
	if err := officer.GetJSON(ctx, "/api/audit?action=playback", &played); err != nil {
		t.Fatal(err)
	}
	if len(played.Records) != len(files) {
		t.Errorf("%d files downloaded, %d playback audit lines", len(files), len(played.Records))
	}
	var segs []struct{ File string }
	now := time.Now().UTC()
	if err := officer.GetJSON(ctx, fmt.Sprintf("/api/daemon/segments?camera=cam1&from=%s&to=%s",
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), &segs); err != nil || len(segs) == 0 {
		t.Fatalf("daemon segments: %v %v", err, segs)
	}
	for _, p := range []string{"/api/daemon/recordings/" + segs[0].File,
		"/api/daemon/export?camera=cam1&from=" + now.Add(-time.Minute).Format(time.RFC3339) + "&to=" + now.Format(time.RFC3339)} {
		resp, err := officer.Do(ctx, "GET", p, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || bytes.Contains(b, []byte("ftyp")) {
			t.Errorf("GET %s: %s %.200s, want 404 (no video from the diagnostic API)", p, resp.Status, b)
		}
	}

	// A camera added on the page runs now.
	add := webadmin.CameraSettings{ID: "cam2", Name: "Cổng sau", URL: rtsp + "/cam2", Mode: "continuous"}
	resp, err := officer.Do(ctx, "POST", "/api/cameras", add)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"applied":true`) {
		t.Fatalf("add cam2: %s %s", resp.Status, b)
	}
	waitSegments(t, officer, "cam2", 30*time.Second)
	// The core keeps the record: the configured camera's, and the page's.
	records := func() []string {
		st, err := cameras.Open(filepath.Join(cfg.DataDir, "web", cameras.FileName))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range st.List() {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if ids := records(); strings.Join(ids, ",") != "cam1,cam2" {
		t.Errorf("camera records %v, want cam1, cam2", ids)
	}
	resp, err = officer.Do(ctx, "POST", "/api/cameras/cam2/delete", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete cam2: %v %v", err, resp)
	}
	resp.Body.Close()
	if ids := records(); strings.Join(ids, ",") != "cam1" {
		t.Errorf("camera records after the delete %v, want cam1", ids)
	}
	var cams struct{ Cameras []webadmin.CameraState }
	if err := officer.GetJSON(ctx, "/api/cameras", &cams); err != nil {
		t.Fatal(err)
	}
	for _, c := range cams.Cameras {
		if c.ID == "cam2" && c.Online {
			t.Errorf("cam2 still running after delete: %+v", c)
		}
	}
}

// waitSegments waits until the page lists segments of camera and returns
// their file names.
func waitSegments(t *testing.T, c *adminclient.Client, camera string, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var res struct {
			Segments []webadmin.Segment `json:"segments"`
		}
		now := time.Now().UTC()
		err := c.GetJSON(context.Background(), fmt.Sprintf("/api/segments?camera=%s&from=%s&to=%s", camera,
			now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), &res)
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, s := range res.Segments {
			if s.Bytes > 0 {
				files = append(files, s.File)
			}
		}
		if len(files) > 0 {
			return files
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no segment listed within %v", camera, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
