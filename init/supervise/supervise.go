// Package supervise runs the daemon under init: starts it, copies its
// output line by line into a log ring (and the console), restarts it with
// exponential backoff when it exits, and stops it cleanly (SIGTERM, a grace
// period, then SIGKILL) when the box shuts down.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Supervisor keeps one program running.
type Supervisor struct {
	// Name prefixes the supervisor's own lines ("matthand").
	Name string
	// Command builds the command for each start (so arguments may change
	// between restarts, e.g. when the config file appears).
	Command func() *exec.Cmd
	// Output receives the program's stdout and stderr, and the
	// supervisor's own lines.
	Output io.Writer
	// MinBackoff and MaxBackoff bound the wait before a restart
	// (defaults 1 s and 30 s). A run longer than StableAfter (default
	// 60 s) resets the backoff.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// StopGrace is how long Stop waits after SIGTERM (default 15 s).
	StopGrace time.Duration
	// OnStart is called with the process id at every start (may be nil).
	OnStart func(pid int)

	mu       sync.Mutex
	proc     *os.Process
	starts   int
	lastExit string
	stopping bool
	stopCh   chan struct{}
	done     chan struct{}
}

// Status is what the supervisor knows about its program.
type Status struct {
	Running  bool   `json:"running"`
	PID      int    `json:"pid"`
	Starts   int    `json:"starts"`
	LastExit string `json:"last_exit,omitempty"`
}

func (s *Supervisor) defaults() {
	if s.MinBackoff == 0 {
		s.MinBackoff = time.Second
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = 30 * time.Second
	}
	if s.StableAfter == 0 {
		s.StableAfter = 60 * time.Second
	}
	if s.StopGrace == 0 {
		s.StopGrace = 15 * time.Second
	}
	if s.Output == nil {
		s.Output = io.Discard
	}
}

func (s *Supervisor) logf(format string, args ...any) {
	fmt.Fprintf(s.Output, "supervise: %s: "+format+"\n", append([]any{s.Name}, args...)...)
}

// Run keeps the program running until ctx ends or Stop is called. It
// returns when the last run has exited.
func (s *Supervisor) Run(ctx context.Context) error {
	s.defaults()
	s.mu.Lock()
	s.done = make(chan struct{})
	if s.stopCh == nil {
		s.stopCh = make(chan struct{})
	}
	stopCh := s.stopCh
	s.mu.Unlock()
	defer close(s.done)
	backoff := s.MinBackoff
	for {
		if s.isStopping() || ctx.Err() != nil {
			return nil
		}
		started := time.Now()
		err := s.runOnce()
		ran := time.Since(started)
		if s.isStopping() || ctx.Err() != nil {
			return nil
		}
		if ran >= s.StableAfter {
			backoff = s.MinBackoff
		}
		s.logf("exited after %s (%v); restarting in %s", ran.Round(time.Millisecond), err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-stopCh:
			return nil
		case <-time.After(backoff):
		}
		backoff *= 2
		if backoff > s.MaxBackoff {
			backoff = s.MaxBackoff
		}
	}
}

func (s *Supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func (s *Supervisor) runOnce() error {
	cmd := s.Command()
	cmd.Stdout = s.Output
	cmd.Stderr = s.Output
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own process group, so a stop can kill its children too (a
	// session leader, e.g. a console shell, already has one).
	if !cmd.SysProcAttr.Setsid {
		cmd.SysProcAttr.Setpgid = true
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return errors.New("stopping")
	}
	err := cmd.Start()
	if err != nil {
		s.lastExit = err.Error()
		s.mu.Unlock()
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	s.proc = cmd.Process
	s.starts++
	n := s.starts
	s.mu.Unlock()
	s.logf("started pid %d (start %d)", cmd.Process.Pid, n)
	if s.OnStart != nil {
		s.OnStart(cmd.Process.Pid)
	}
	err = cmd.Wait()
	s.mu.Lock()
	s.proc = nil
	if err != nil {
		s.lastExit = err.Error()
	} else {
		s.lastExit = "exit status 0"
	}
	s.mu.Unlock()
	return err
}

// Status reports the program's state.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Starts: s.starts, LastExit: s.lastExit}
	if s.proc != nil {
		st.Running = true
		st.PID = s.proc.Pid
	}
	return st
}

// Stop ends supervision: SIGTERM to the program, and SIGKILL to its
// process group if it has not exited after StopGrace. It returns once Run
// has returned (or ctx ends), and whether the program exited by itself.
func (s *Supervisor) Stop(ctx context.Context) (clean bool) {
	s.defaults()
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		if s.stopCh == nil {
			s.stopCh = make(chan struct{})
		}
		close(s.stopCh)
	}
	proc, done := s.proc, s.done
	s.mu.Unlock()
	if done == nil {
		return true
	}
	if proc != nil {
		s.logf("stopping pid %d (SIGTERM, %s grace)", proc.Pid, s.StopGrace)
		_ = proc.Signal(syscall.SIGTERM)
	}
	timer := time.NewTimer(s.StopGrace)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-ctx.Done():
	case <-timer.C:
	}
	if proc != nil {
		s.logf("pid %d did not stop in %s: SIGKILL", proc.Pid, s.StopGrace)
		_ = syscall.Kill(-proc.Pid, syscall.SIGKILL)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return false
}
