// Command matthaninit is the box's PID 1 (/init in the initramfs): see
// package pid1. It is also matthanctl, linked to /init under that name.
// The technician's self-test is a program of its own
// (/bin/matthan-selftest, hwtest/cmd/matthan-selftest) that init runs on a
// matthan.selftest=1 boot: init imports nothing from hwtest/.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/matthan/matthan/firmware/control"
	"github.com/matthan/matthan/init/pid1"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case "matthanctl":
		os.Exit(control.CtlMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "matthaninit: must run as PID 1 (it is the box's init)")
		os.Exit(2)
	}
	reboot, arg := false, ""
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Printf("matthan: init crashed: %v\n%s\nmatthan: rebooting\n", r, debug.Stack())
				reboot = true
			}
		}()
		in := pid1.New(os.Stdout)
		reboot = in.Run()
		arg = in.RebootArg()
	}()
	pid1.HaltWith(reboot, arg)
}
