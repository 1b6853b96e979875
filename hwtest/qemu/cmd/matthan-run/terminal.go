package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeTerminal makes matthan-run's own process group the terminal's
// foreground group, as a shell does for a job, so that Ctrl-C reaches only
// matthan-run (which powers the box off and exits 0), not make and go run
// above it: make dies of a Ctrl-C whatever its recipe does, and `make run`
// would end with "Interrupt" or "Error" and a failed status. The returned
// function gives the terminal back. Without a terminal it does nothing.
func takeTerminal() (restore func()) {
	restore = func() {}
	fd := int(os.Stdin.Fd())
	prev, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || prev != unix.Getpgrp() {
		return // no terminal, or not in its foreground group
	}
	if sid, _ := unix.Getsid(0); sid == unix.Getpid() {
		return // a session leader cannot change its group
	}
	if err := unix.Setpgid(0, 0); err != nil {
		return
	}
	signal.Ignore(syscall.SIGTTOU) // setting the foreground from a background group
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpgrp()); err != nil {
		unix.Setpgid(0, prev)
		return
	}
	return func() { unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, prev) }
}
