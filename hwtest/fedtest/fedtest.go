// Package fedtest runs a real NATS server with JetStream for the district
// tests (daemon/federation, webadmin/district): in process, its store in a
// test folder, on a fixed port so that it can be stopped and started again
// (a link down), with one NKey user per box.
package fedtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/matthan/matthan/hwtest/testenv"
)

// District service credentials on the test server.
const (
	User     = "district"
	Password = "district-secret-pass"
)

// Server is a running (or stopped) test server.
type Server struct {
	t    testing.TB
	conf string
	srv  *server.Server
	URL  string
	// Seeds are the boxes' NKey seeds; NKeys their public keys.
	Seeds, NKeys map[string]string
}

// Config writes the server configuration for listen, storeDir and the
// boxes' NKeys (federation.ServerConfig).
type Config func(listen, storeDir string, nkeys map[string]string) (string, error)

// Start makes NKeys for boxes and starts a server configured by conf.
func Start(t testing.TB, conf Config, boxes ...string) *Server {
	dir := t.TempDir()
	port := FreePort(t)
	s := &Server{t: t, Seeds: map[string]string{}, NKeys: map[string]string{}, URL: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	for _, b := range boxes {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		s.Seeds[b], s.NKeys[b] = string(seed), pub
	}
	text, err := conf(fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(dir, "js"), s.NKeys)
	if err != nil {
		t.Fatal(err)
	}
	s.conf = filepath.Join(dir, "server.conf")
	if err := os.WriteFile(s.conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) on its port with its store.
func (s *Server) Start() {
	opts, err := server.ProcessConfigFile(s.conf)
	if err != nil {
		s.t.Fatalf("server config: %v", err)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		s.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatal("nats server not ready")
	}
	s.srv = srv
}

// Stop shuts the server down (the link drops for every client).
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

// FreePort finds a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond until it holds or d passes.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MakeClip encodes a camera-like 1080p25 H.264 clip of secs seconds as a
// fragmented MP4 in dir (ffmpeg).
func MakeClip(t testing.TB, dir string, secs int) string {
	ffmpeg := testenv.LookTool(t, "ffmpeg", "ffmpeg")
	p := filepath.Join(dir, "src.mp4")
	cmd := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1920x1080:rate=25:duration=%d", secs),
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M", "-x264-params", "scenecut=0:keyint=50:min-keyint=50", "-bf", "0",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof", "-y", p)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return p
}
