package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/hwtest/testenv"
)

// When MATTHAN_RUN_TERMINAL_HELPER is set the test binary plays
// matthan-run: it takes the terminal (unless the value is "no"), says so,
// waits for a Ctrl-C and exits 0.
func TestMain(m *testing.M) {
	if v := os.Getenv("MATTHAN_RUN_TERMINAL_HELPER"); v != "" {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt)
		restore := func() {}
		if v != "no" {
			restore = takeTerminal()
		}
		fmt.Println("helper: ready")
		select {
		case <-sigs:
			fmt.Println("helper: Ctrl-C, powering off")
		case <-time.After(30 * time.Second):
			fmt.Println("helper: no Ctrl-C")
		}
		restore()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// openPty returns a new pseudo-terminal's master and slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// makeCtrlC runs `make` in a terminal whose recipe runs the helper, presses
// Ctrl-C once the helper is ready, and returns make's exit status and what
// the terminal showed.
func makeCtrlC(t *testing.T, helper string) (int, string) {
	t.Helper()
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mf := filepath.Join(dir, "Makefile")
	os.WriteFile(mf, []byte("run:\n\tMATTHAN_RUN_TERMINAL_HELPER="+helper+" "+self+"\n"), 0o644)
	master, slave := openPty(t)
	defer master.Close()
	cmd := exec.Command(mk, "-s", "-f", mf, "run")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	ready := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		once := false
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if !once && strings.Contains(out.String(), "helper: ready") {
				once = true
				close(ready)
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("helper not ready")
	}
	time.Sleep(100 * time.Millisecond)
	master.Write([]byte{3}) // Ctrl-C
	err = cmd.Wait()
	select {
	case <-read:
	case <-time.After(2 * time.Second):
	}
	return testenv.ExitCode(t, err), out.String() // -1: killed by a signal
}

// TestCtrlCEndsMakeRunWithZero: a Ctrl-C in the terminal during `make run`
// reaches matthan-run only, and make exits 0. Without taking the terminal,
// make itself dies of the Ctrl-C (the old behaviour).
func TestCtrlCEndsMakeRunWithZero(t *testing.T) {
	code, out := makeCtrlC(t, "yes")
	if code != 0 || !strings.Contains(out, "helper: Ctrl-C, powering off") {
		t.Errorf("make exited %d after Ctrl-C, want 0; terminal:\n%s", code, out)
	}
	code, out = makeCtrlC(t, "no")
	if code == 0 {
		t.Errorf("without taking the terminal make exited 0 (the test cannot tell); terminal:\n%s", out)
	}
}
