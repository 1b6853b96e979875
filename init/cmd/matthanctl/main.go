// Command matthanctl talks to init on the box through its control socket:
// `matthanctl log` prints the daemon's log ring, `status` init's status,
// `reboot` and `poweroff` shut the box down cleanly. On the box it is a
// link to /init (one binary, see init/cmd/matthaninit).
package main

import (
	"os"

	"github.com/matthan/matthan/firmware/control"
)

func main() { os.Exit(control.CtlMain(os.Args[1:], os.Stdout, os.Stderr)) }
