package box

import (
	"bufio"
	"net"
	"os"
	"time"
)

// initLog reads the daemon's recent output from init's ring buffer over
// its control socket (write "log\n", read until EOF).
type initLog struct{ socket string }

// LogLines implements webadmin.LogSource: the newest n lines, or one line
// saying why there are none.
func (l initLog) LogLines(n int) []string {
	if l.socket == "" {
		return []string{"không chạy dưới init của hộp / not running under the box's init (no MATTHAN_INIT_SOCKET)"}
	}
	c, err := net.DialTimeout("unix", l.socket, time.Second)
	if err != nil {
		return []string{"init log: " + err.Error()}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("log\n")); err != nil {
		return []string{"init log: " + err.Error()}
	}
	var ring []string
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > 2*max(n, 1) {
			ring = append(ring[:0], ring[len(ring)-max(n, 1):]...)
		}
	}
	if len(ring) > n {
		ring = ring[len(ring)-n:]
	}
	return ring
}

func initSocket() string { return os.Getenv("MATTHAN_INIT_SOCKET") }
