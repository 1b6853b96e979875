package webadmin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/hwtest/testenv"
)

// TestRedirectToHTTPS: the redirect names the address the connection
// arrived on (the box's), never the Host header the client wrote, and
// keeps only a local path.
func TestRedirectToHTTPS(t *testing.T) {
	h := RedirectToHTTPS("8443")
	for _, tt := range []struct{ local, host, path, want string }{
		{"192.168.1.10:80", "192.168.1.10", "/live?x=1", "https://192.168.1.10:8443/live?x=1"},
		{"192.168.1.10:80", "evil.example", "/live?x=1", "https://192.168.1.10:8443/live?x=1"},
		{"127.0.0.1:8080", "evil.example:80", "/", "https://127.0.0.1:8443/"},
		{"[fd00::5]:80", "x", "/a", "https://[fd00::5]:8443/a"},
		{"[::ffff:10.0.0.2]:80", "x", "/a", "https://10.0.0.2:8443/a"},
		{"10.0.0.2:80", "x", "//evil.example/x", "https://10.0.0.2:8443/"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tt.path, nil)
		req.Host = tt.host
		local, _ := net.ResolveTCPAddr("tcp", tt.local)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, local))
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != tt.want {
			t.Errorf("%s (Host %s) %s → %d %q, want %q", tt.local, tt.host, tt.path, rec.Code, rec.Header().Get("Location"), tt.want)
		}
	}
}

// TestLangRedirectStaysLocal: /lang/{lang}?back= goes only to a path on
// this site. The first payload is the probe's finding: browsers drop the
// tab, and "/\t/127.0.0.1:28999/x" became "//127.0.0.1:28999/x".
func TestLangRedirectStaysLocal(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("")
	for _, tt := range []struct{ back, want string }{
		{"/%09/127.0.0.1:28999/x", "/"},
		{"//127.0.0.1:28999/x", "/"},
		{"/%5C127.0.0.1:28999/x", "/"},
		{"%5C%5C127.0.0.1/x", "/"},
		{"/%5C/127.0.0.1/x", "/"},
		{"/%0A/evil.example", "/"},
		{"/%0D%0A/evil.example", "/"},
		{"/%20/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"https:evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"", "/"},
		{"/live?camera=cam1", "/live?camera=cam1"},
		{"/playback", "/playback"},
	} {
		resp, err := c.http.Get(env.srv.URL + "/lang/vi?back=" + tt.back)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != tt.want {
			t.Errorf("back=%s → %d %q, want %q", tt.back, resp.StatusCode, got, tt.want)
		}
	}
}

// FuzzLocalPath: whatever comes in, what goes out is "/" or a path a
// browser keeps on this site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/\t/127.0.0.1/x", "//x", "/\\x", "/ok?a=b", "/%5C", "\\\\x", "/a/../..//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		got := localPath(ref)
		if got != "/" && got != ref {
			t.Fatalf("localPath(%q) = %q", ref, got)
		}
		// As a browser reads it: tabs and newlines dropped, "\" as "/".
		b := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		u, err := url.Parse("https://box.example" + b)
		if strings.HasPrefix(b, "//") || err != nil || u.Host != "box.example" {
			t.Fatalf("localPath(%q) = %q leaves the site", ref, got)
		}
	})
}

// TestTLSOnlyAEAD: a TLS 1.2 client offering only CBC suites is refused;
// GCM, ChaCha20 and TLS 1.3 clients connect.
func TestTLSOnlyAEAD(t *testing.T) {
	cert, _, err := LoadOrCreateCert(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", TLSConfig(cert))
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, ln, func(c net.Conn) { c.(*tls.Conn).Handshake(); c.Close() })
	try := func(cfg *tls.Config) error {
		cfg.InsecureSkipVerify = true
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}
	if err := try(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}); err == nil {
		t.Error("a TLS 1.2 client with CBC suites only connected")
	}
	for name, cfg := range map[string]*tls.Config{
		"TLS 1.2 AES-GCM":  {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
		"TLS 1.2 ChaCha20": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
		"TLS 1.3":          {MinVersion: tls.VersionTLS13},
	} {
		if err := try(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := try(&tls.Config{MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 client connected")
	}
}

// TestWriteDeadlineMovesOn: a client that stops reading is cut after the
// write timeout; a long response that keeps moving is not (the deadline
// moves on with every write).
func TestWriteDeadlineMovesOn(t *testing.T) {
	done := make(chan error, 1)
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 64 << 20
		if r.URL.Path == "/slow" {
			n = 12 * len(chunk)
		}
		var err error
		for written := 0; written < n && err == nil; written += len(chunk) {
			_, err = w.Write(chunk)
			if r.URL.Path == "/slow" {
				time.Sleep(250 * time.Millisecond) // 3 s in all, 4x the timeout
			}
		}
		done <- err
	})
	srv := startHTTPServer(t, h, Timeouts{Write: 700 * time.Millisecond})

	// Stops reading: cut.
	rawGet(t, srv, "/big") // and never read
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("64 MB written to a client that reads nothing")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write to a client that reads nothing still blocks after 5 s")
	}
	// Reads, slowly: the whole response arrives.
	resp, err := http.Get(srv.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(b) != 12*len(chunk) {
		t.Fatalf("slow response: %d bytes, %v", len(b), err)
	}
	if err := <-done; err != nil {
		t.Fatalf("slow response cut: %v", err)
	}
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("no security headers: %v", resp.Header)
	}
}

// acceptAll hands every connection ln accepts to handle, on its own
// goroutine, until t ends and closes ln.
func acceptAll(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
}

// startHTTPServer serves h with NewHTTPServer's timeouts until t ends.
func startHTTPServer(t *testing.T, h http.Handler, to Timeouts) *httptest.Server {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = NewHTTPServer(h, to, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// rawGet sends a GET of path on a plain connection to srv, closed when t
// ends, and leaves the reading (or not) to the caller.
func rawGet(t *testing.T, srv *httptest.Server, path string) net.Conn {
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	return c
}

// TestHijackedConnOwnsDeadlines: a hijacked connection (the live
// WebSocket) starts with no deadline left from the request's timeouts.
func TestHijackedConnOwnsDeadlines(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		line, err := brw.ReadString('\n') // sent after the read timeout
		if err != nil {
			t.Errorf("read on the hijacked connection: %v", err)
			return
		}
		brw.WriteString("echo " + line)
		brw.Flush()
	})
	srv := startHTTPServer(t, h, Timeouts{Read: 500 * time.Millisecond, Write: 500 * time.Millisecond, Handshake: 500 * time.Millisecond})
	c := rawGet(t, srv, "/")
	time.Sleep(1200 * time.Millisecond)
	io.WriteString(c, "hello\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, _ := io.ReadAll(c)
	if string(b) != "echo hello\n" {
		t.Fatalf("got %q", b)
	}
}

type failingSegments struct{ fakeSegments }

func (failingSegments) Segments(context.Context, string, time.Time, time.Time) ([]Segment, error) {
	return nil, &os.PathError{Op: "open", Path: "/data/recordings/cam1/journal", Err: os.ErrPermission}
}

// TestInternalErrorHidesDetails: a 500 shows an error id, never the
// error's text (paths); the log has both.
func TestInternalErrorHidesDetails(t *testing.T) {
	env := newTestEnv(t)
	var logBuf testenv.SyncBuffer
	env.s.log = slog.New(slog.NewTextHandler(&logBuf, nil))
	env.s.cfg.Segments = failingSegments{}
	c := env.login("officer")
	code, body := c.do("GET", "/api/segments?camera=cam1&from=2026-11-26T00:00:00Z&to=2026-11-26T01:00:00Z", "", "")
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d %s", code, body)
	}
	if strings.Contains(body, "/data") || strings.Contains(body, "journal") || strings.Contains(body, "permission") {
		t.Errorf("500 shows internals: %s", body)
	}
	var e struct{ Error, Code string }
	json.Unmarshal([]byte(body), &e)
	id := e.Error[strings.LastIndex(e.Error, " ")+1:]
	id = strings.TrimRight(id, ").")
	if len(id) != 8 || !strings.Contains(logBuf.String(), "error_id="+id) || !strings.Contains(logBuf.String(), "/data/recordings/cam1/journal") {
		t.Errorf("error id %q not in the log with the details:\n%s\n%s", id, body, logBuf.String())
	}
}

// TestCameraPasswordWriteOnly: /api/cameras never returns a camera's
// password (it says password_set); saving the URL without one keeps the
// stored password; a new password or another user replaces it.
func TestCameraPasswordWriteOnly(t *testing.T) {
	env := newTestEnv(t)
	tech := env.login("tech")
	put := func(u string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"id": "cam5", "name": "Cổng", "url": u, "mode": "continuous"})
		if code, b := tech.do("POST", "/api/cameras", string(body), ""); code != 200 {
			t.Fatalf("save %s: %d %s", u, code, b)
		}
	}
	stored := func() string {
		t.Helper()
		c, _ := env.s.cams.Get("cam5")
		return c.URL
	}
	put("rtsp://admin:s3cret-pw@192.168.1.20:554/ch1")
	for _, who := range []string{"tech", "officer"} {
		code, body := env.login(who).do("GET", "/api/cameras", "", "")
		if code != 200 || strings.Contains(body, "s3cret") {
			t.Fatalf("%s GET /api/cameras shows the password: %d %s", who, code, body)
		}
		var list struct {
			Cameras []cameraView `json:"cameras"`
		}
		json.Unmarshal([]byte(body), &list)
		for _, c := range list.Cameras {
			if c.ID == "cam5" && (c.Settings == nil || !c.Settings.PasswordSet || c.Settings.URL != "rtsp://admin@192.168.1.20:554/ch1") {
				t.Errorf("%s: cam5 shown as %+v", who, c.Settings)
			}
		}
	}
	put("rtsp://admin@192.168.1.20:554/ch2") // what the page sends back
	if got := stored(); got != "rtsp://admin:s3cret-pw@192.168.1.20:554/ch2" {
		t.Errorf("saved without a password: stored %q, want the old password kept", got)
	}
	put("rtsp://admin:new-pw@192.168.1.20:554/ch2")
	if got := stored(); got != "rtsp://admin:new-pw@192.168.1.20:554/ch2" {
		t.Errorf("new password: stored %q", got)
	}
	put("rtsp://viewer@192.168.1.20:554/ch2")
	if got := stored(); got != "rtsp://viewer@192.168.1.20:554/ch2" {
		t.Errorf("another user: stored %q, want no password carried over", got)
	}
	if strings.Contains(env.camerasFile(), "password_set") {
		t.Errorf("password_set stored: %s", env.camerasFile())
	}
}

// TestCameraURLPolicy: saving or testing a camera URL outside the camera
// network is refused before any connection; numeric host forms are
// refused; a failed test never quotes what the far end sent.
func TestCameraURLPolicy(t *testing.T) {
	env := newTestEnv(t)
	env.s.cfg.CameraPolicy = camnet.Policy{}
	env.s.cfg.Prober = rtspProber{policy: env.s.cfg.CameraPolicy}
	tech := env.login("tech")
	for _, u := range []string{"rtsp://127.0.0.1:22/x", "rtsp://[::1]:22/x", "rtsp://0x7f000001:22/x", "rtsp://2130706433/x",
		"rtsp://127.1/x", "rtsp://8.8.8.8/x", "rtsp://0.0.0.0/x"} {
		body, _ := json.Marshal(map[string]any{"id": "cam9", "name": "x", "url": u})
		if code, b := tech.do("POST", "/api/cameras", string(body), ""); code != 400 || !strings.Contains(b, "err_camera_net") {
			t.Errorf("save %s: %d %s", u, code, b)
		}
		body, _ = json.Marshal(map[string]any{"url": u})
		if code, b := tech.do("POST", "/api/cameras/probe", string(body), ""); code != 400 || !strings.Contains(b, "err_camera_net") {
			t.Errorf("probe %s: %d %s", u, code, b)
		}
	}
	// Another service on an allowed address: the error is generic.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, ln, func(c net.Conn) {
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
		time.Sleep(200 * time.Millisecond)
		c.Close()
	})
	env.s.cfg.CameraPolicy = camnet.Policy{AllowLoopback: true}
	env.s.cfg.Prober = rtspProber{policy: env.s.cfg.CameraPolicy}
	body, _ := json.Marshal(map[string]any{"url": "rtsp://" + ln.Addr().String() + "/x"})
	code, b := tech.do("POST", "/api/cameras/probe", string(body), "")
	if code != http.StatusBadGateway || strings.Contains(b, "SSH") || strings.Contains(b, "OpenSSH") || !strings.Contains(b, "RTSP") {
		t.Errorf("probe of an SSH server: %d %s", code, b)
	}
}

// TestCameraMixedMode: the mixed mode is saved with its event days and
// shown back; event days not above the plain days are refused in
// Vietnamese; the list carries the box's own days for cameras at 0.
func TestCameraMixedMode(t *testing.T) {
	env := newTestEnv(t)
	tech := env.login("tech")
	body := `{"id":"cam6","name":"Ngõ","url":"rtsp://192.168.1.21/","mode":"mixed","retentionDays":7,"eventRetentionDays":7}`
	if code, b := tech.do("POST", "/api/cameras", body, ""); code != 400 || !strings.Contains(b, "Chế độ hỗn hợp") {
		t.Fatalf("event days equal to the plain days: %d %s, want 400 with the Vietnamese reason", code, b)
	}
	body = `{"id":"cam6","name":"Ngõ","url":"rtsp://192.168.1.21/","mode":"mixed","retentionDays":7,"eventRetentionDays":30}`
	if code, b := tech.do("POST", "/api/cameras", body, ""); code != 200 {
		t.Fatalf("save: %d %s", code, b)
	}
	code, b := tech.do("GET", "/api/cameras", "", "")
	var list struct {
		Cameras []cameraView `json:"cameras"`
		BoxDays *int         `json:"boxRetentionDays"`
	}
	if err := json.Unmarshal([]byte(b), &list); code != 200 || err != nil || list.BoxDays == nil {
		t.Fatalf("GET /api/cameras: %d %v %s", code, err, b)
	}
	for _, c := range list.Cameras {
		if c.ID == "cam6" && (c.Settings == nil || c.Settings.Mode != "mixed" || c.Settings.RetentionDays != 7 || c.Settings.EventRetentionDays != 30) {
			t.Errorf("cam6 shown as %+v", c.Settings)
		}
	}
}
