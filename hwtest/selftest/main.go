package selftest

import (
	"flag"
	"fmt"
	"io"

	"github.com/matthan/matthan/board"
)

// Main runs the self-test command with args (without the program name),
// printing to out; it returns the exit status.
func Main(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("matthan-selftest", flag.ContinueOnError)
	fs.SetOutput(out)
	boardFile := fs.String("board", board.PathOnBox, "board definition")
	api := fs.String("api", "127.0.0.1:8080", "daemon admin address to ask GET /api/health (empty: skip)")
	data := fs.String("data", "/data", "data folder")
	httpsPort := fs.String("https-port", "8443", "the admin page's HTTPS port (printed with the address and name)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := board.LoadFile(*boardFile)
	if err != nil {
		fmt.Fprintln(out, "matthan-selftest:", err)
		return 2
	}
	fmt.Fprintf(out, "Tự kiểm tra phần cứng / hardware self-test: board %s\n", b.Name)
	results := GPIO(b)
	results = append(results, Data(*data), BoxKey(*data), Network(b.Network.Uplink, *httpsPort), Exists("rtc", "/dev/rtc0"))
	if b.Watchdog != "" {
		results = append(results, Exists("watchdog", b.Watchdog))
	}
	if *api != "" {
		results = append(results, API(*api))
	}
	failed := 0
	for _, r := range results {
		fmt.Fprintln(out, r)
		if !r.OK {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(out, "KẾT QUẢ / RESULT: %d of %d checks failed\n", failed, len(results))
		return 1
	}
	fmt.Fprintf(out, "KẾT QUẢ / RESULT: all %d checks passed\n", len(results))
	return 0
}
