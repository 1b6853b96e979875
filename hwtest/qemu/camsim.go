package qemu

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// Cameras is a camera simulator process (hwtest/cmd/camsim) for `make
// run` and the boot benchmark.
type Cameras struct {
	RTSP string // host:port
	// Control is the fault API's host:port (hwtest/README.md), "" when
	// it is off.
	Control string
	cmd     *exec.Cmd
}

var camsimReady = regexp.MustCompile(`camsim: ready rtsp=(\S+) control=(\S+)`)

// StartCameras builds camsim into dir and starts it with n cameras on
// 127.0.0.1:port, reading clips from clipsDir, without its fault API.
func StartCameras(ctx context.Context, repo, dir, clipsDir string, n, port int) (*Cameras, error) {
	return StartCamerasControl(ctx, repo, dir, clipsDir, n, port, "")
}

// StartCamerasControl is StartCameras with the fault API on control
// (host:port; "" for none). The simulator has its own process group: a
// Ctrl-C in the terminal reaches the caller, which stops it after the box.
func StartCamerasControl(ctx context.Context, repo, dir, clipsDir string, n, port int, control string) (*Cameras, error) {
	bin := filepath.Join(dir, "camsim")
	b := exec.CommandContext(ctx, "go", "build", "-o", bin, "./hwtest/cmd/camsim")
	b.Dir = repo
	if out, err := b.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build camsim: %w\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin, "-listen", fmt.Sprintf("127.0.0.1:%d", port), "-control", control,
		"-cameras", fmt.Sprint(n), "-no-h265-camera", "-quiet", "-clips", clipsDir)
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = os.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start camsim: %w", err)
	}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := camsimReady.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ready <- m:
				default:
				}
			}
		}
	}()
	select {
	case m := <-ready:
		c := &Cameras{RTSP: m[1], cmd: cmd}
		if m[2] != "none" {
			c.Control = m[2]
		}
		return c, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("camsim did not become ready in 30 s (clips in %s? make clips)", clipsDir)
	}
}

// Stop ends the simulator.
func (c *Cameras) Stop() {
	c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// GuestCmdline names n cameras cam1..camN at the simulator's port as the
// guest sees the host (10.0.2.2).
func GuestCmdline(n, port int) string { return guestCmdline(n, port, false) }

// GuestCmdlineWithSub is GuestCmdline with each camera's sub stream
// (…/camN/sub, for the live wall) after a comma.
func GuestCmdlineWithSub(n, port int) string { return guestCmdline(n, port, true) }

func guestCmdline(n, port int, sub bool) string {
	s := ""
	for i := 1; i <= n; i++ {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf("matthan.camera=cam%d=rtsp://10.0.2.2:%d/cam%d", i, port, i)
		if sub {
			s += fmt.Sprintf(",rtsp://10.0.2.2:%d/cam%d/sub", port, i)
		}
	}
	return s
}
