package supervise

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/testenv"
)

func TestRestartsWithBackoff(t *testing.T) {
	out := &testenv.SyncBuffer{}
	s := &Supervisor{
		Name:       "crasher",
		Command:    func() *exec.Cmd { return exec.Command("sh", "-c", "echo hello; exit 3") },
		Output:     out,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 80 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Status().Starts < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	st := s.Status()
	if st.Starts < 4 {
		t.Fatalf("starts = %d, want ≥ 4", st.Starts)
	}
	if !strings.Contains(st.LastExit, "exit status 3") {
		t.Errorf("last exit = %q", st.LastExit)
	}
	got := out.String()
	if strings.Count(got, "hello\n") < 4 || !strings.Contains(got, "restarting in 80ms") {
		t.Errorf("output lacks program lines or capped backoff:\n%s", got)
	}
}

// runUp supervises a shell program that runs the trap command, says "up"
// and then loops until killed, and returns once it is up.
func runUp(t *testing.T, name, trap string, grace time.Duration) (*Supervisor, *testenv.SyncBuffer) {
	t.Helper()
	out := &testenv.SyncBuffer{}
	s := &Supervisor{
		Name: name,
		Command: func() *exec.Cmd {
			return exec.Command("sh", "-c", trap+`; echo up; while :; do sleep 0.05; done`)
		},
		Output:    out,
		StopGrace: grace,
	}
	go s.Run(context.Background())
	testenv.WaitFor(t, "the child up", 5*time.Second, func() bool { return strings.Contains(out.String(), "up") })
	return s, out
}

func TestStopGraceful(t *testing.T) {
	s, out := runUp(t, "graceful", `trap 'echo flushed; exit 0' TERM`, 5*time.Second)
	if clean := s.Stop(context.Background()); !clean {
		t.Error("Stop: program did not exit by itself")
	}
	if !strings.Contains(out.String(), "flushed") {
		t.Errorf("program did not see SIGTERM:\n%s", out.String())
	}
	if s.Status().Running {
		t.Error("still running after Stop")
	}
}

func TestStopKillsStubborn(t *testing.T) {
	s, out := runUp(t, "stubborn", `trap '' TERM`, 200*time.Millisecond)
	start := time.Now()
	if clean := s.Stop(context.Background()); clean {
		t.Error("Stop reported a clean exit for a program ignoring SIGTERM")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stop took %s", d)
	}
	if !strings.Contains(out.String(), "SIGKILL") {
		t.Errorf("no SIGKILL line:\n%s", out.String())
	}
}

func TestStopDuringBackoff(t *testing.T) {
	s := &Supervisor{
		Name:       "quick",
		Command:    func() *exec.Cmd { return exec.Command("true") },
		MinBackoff: time.Minute,
	}
	go s.Run(context.Background())
	testenv.WaitFor(t, "one start, then stopped", 5*time.Second, func() bool { return s.Status().Starts == 1 && !s.Status().Running })
	start := time.Now()
	s.Stop(context.Background())
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop during a 1 min backoff took %s", d)
	}
}
