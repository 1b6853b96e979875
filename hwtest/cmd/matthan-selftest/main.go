// Command matthan-selftest is the technician's self-test on the box: it
// checks the GPIO lines of the board's pin map (driving the LEDs), the
// data partition, the RTC, the watchdog and the daemon's API, printing one
// PASS/FAIL line per check. Exit status 1 when any check fails.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/hwtest/selftest"
)

func main() {
	boardFile := flag.String("board", board.PathOnBox, "board definition")
	api := flag.String("api", "http://127.0.0.1:8080/api/health", "daemon health URL (empty: skip)")
	data := flag.String("data", "/data", "data folder")
	flag.Parse()
	b, err := board.LoadFile(*boardFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "matthan-selftest:", err)
		os.Exit(2)
	}
	fmt.Printf("Tự kiểm tra phần cứng / hardware self-test: board %s\n", b.Name)
	results := selftest.GPIO(b)
	results = append(results, selftest.Data(*data), selftest.Exists("rtc", "/dev/rtc0"))
	if b.Watchdog != "" {
		results = append(results, selftest.Exists("watchdog", b.Watchdog))
	}
	if *api != "" {
		results = append(results, selftest.API(*api))
	}
	failed := 0
	for _, r := range results {
		fmt.Println(r)
		if !r.OK {
			failed++
		}
	}
	if failed > 0 {
		fmt.Printf("KẾT QUẢ / RESULT: %d of %d checks failed\n", failed, len(results))
		os.Exit(1)
	}
	fmt.Printf("KẾT QUẢ / RESULT: all %d checks passed\n", len(results))
}
