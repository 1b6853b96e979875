// Command matthanctl talks to init on the box through its control socket:
// `matthanctl log` prints the daemon's log ring, `status` init's status,
// `reboot` and `poweroff` shut the box down cleanly.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/matthan/matthan/init/control"
)

func main() {
	sock := flag.String("socket", control.DefaultPath, "init's control socket")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: matthanctl [-socket PATH] log|status|reboot|poweroff")
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := control.Ask(*sock, flag.Arg(0))
	os.Stdout.Write(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "matthanctl:", err)
		os.Exit(1)
	}
}
