// Command matthaninit is the box's PID 1 (/init in the initramfs): see
// package pid1.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/matthan/matthan/init/pid1"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "matthaninit: must run as PID 1 (it is the box's init)")
		os.Exit(2)
	}
	reboot := false
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Printf("matthan: init crashed: %v\n%s\nmatthan: rebooting\n", r, debug.Stack())
				reboot = true
			}
		}()
		reboot = pid1.New(os.Stdout).Run()
	}()
	pid1.Halt(reboot)
}
