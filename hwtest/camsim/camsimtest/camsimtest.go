// Package camsimtest runs the camera simulator (hwtest/cmd/camsim) as its own
// process for tests of other packages: the daemon's ingest and recorder
// tests, the QEMU boot tests and benchmarks, where the simulator's CPU must
// not be counted as the tested program's.
package camsimtest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/testenv"
)

// Process is a running camsim.
type Process struct {
	// RTSP is the RTSP listen address (host:port).
	RTSP string
	// Control is the HTTP control address (host:port).
	Control string
	// Cmd is the process.
	Cmd *exec.Cmd

	mu  sync.Mutex
	log []byte
}

var readyLine = regexp.MustCompile(`camsim: ready rtsp=(\S+) control=(\S+)`)

// Start builds camsim (once per test binary), starts it with args and waits
// until it serves. Unless args say otherwise it listens on free ports of
// 127.0.0.1 and reads the clips from out/clips (skipping the test, or failing
// it under MATTHAN_REQUIRE_TOOLS=1, when they are missing: make clips). The
// process is stopped when the test ends.
func Start(t testing.TB, args ...string) *Process {
	t.Helper()
	has := func(flag string) bool {
		for _, a := range args {
			if a == "-"+flag || strings.HasPrefix(a, "-"+flag+"=") || a == "--"+flag || strings.HasPrefix(a, "--"+flag+"=") {
				return true
			}
		}
		return false
	}
	if !has("listen") {
		args = append(args, "-listen", "127.0.0.1:0")
	}
	if !has("control") {
		args = append(args, "-control", "127.0.0.1:0")
	}
	if !has("clips") {
		dir := filepath.Join(testenv.OutDir(), "clips")
		testenv.NeedFile(t, filepath.Join(dir, "moving-720p.h264"), "make clips")
		args = append(args, "-clips", dir)
	}
	bin := testenv.BuildCommand(t, "./hwtest/cmd/camsim")
	p := &Process{Cmd: exec.Command(bin, args...)}
	stderr, err := p.Cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start camsim: %v", err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("camsim log:\n%s", p.Log())
		}
	})
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log = append(p.log, line...)
			p.log = append(p.log, '\n')
			if len(p.log) > 1<<16 {
				p.log = append([]byte(nil), p.log[len(p.log)-1<<15:]...)
			}
			p.mu.Unlock()
			if m := readyLine.FindStringSubmatch(line); m != nil {
				ready <- [2]string{m[1], m[2]}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = p.Cmd.Wait()
		close(exited)
	}()
	select {
	case a := <-ready:
		p.RTSP, p.Control = a[0], a[1]
	case <-exited:
		t.Fatalf("camsim %q exited before it was ready:\n%s", args, p.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("camsim %q not ready after 30 s:\n%s", args, p.Log())
	}
	return p
}

// Log is what the process has logged so far (its last 32 KiB or more).
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.log)
}

// URL is the RTSP URL of a path such as "cam1" or "cam1/sub".
func (p *Process) URL(path string) string { return "rtsp://" + p.RTSP + "/" + path }

// Fault posts a fault to the control endpoint, e.g.
// Fault(t, "cam1", "stall", "for=5s") or Fault(t, "cam2", "drop", "").
func (p *Process) Fault(t testing.TB, camera, fault, query string) {
	t.Helper()
	if err := p.TryFault(camera, fault, query); err != nil {
		t.Fatal(err)
	}
}

// TryFault is Fault returning the error.
func (p *Process) TryFault(camera, fault, query string) error {
	u := "http://" + p.Control + "/cameras/" + camera + "/" + fault
	if query != "" {
		u += "?" + query
	}
	resp, err := http.Post(u, "", nil)
	if err != nil {
		return fmt.Errorf("camsim control: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("camsim control %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}
