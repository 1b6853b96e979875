// Command matthan-selftest is the technician's self-test on the box: it
// checks the GPIO lines of the board's pin map (driving the LEDs), the
// data partition, the RTC, the watchdog and the daemon's API, printing one
// PASS/FAIL line per check. Exit status 1 when any check fails. On the
// box it is /bin/matthan-selftest, a program of its own that init runs on
// a matthan.selftest=1 boot (init imports nothing from hwtest/).
package main

import (
	"os"

	"github.com/matthan/matthan/hwtest/selftest"
)

func main() { os.Exit(selftest.Main(os.Args[1:], os.Stdout)) }
