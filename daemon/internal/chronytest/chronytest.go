// Package chronytest runs chrony, an independent NTP implementation, as
// the oracle of the box's NTP code in tests: chronyd serving on 127.0.0.1
// (Serve), or measuring a server once (Measure). It never touches the
// host's clock (-x, -Q) and opens no command socket.
package chronytest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/testenv"
)

// Stratum is the stratum chronyd serves at (its local reference).
const Stratum = 8

func conf(t testing.TB, extra string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "chrony.conf")
	body := fmt.Sprintf("cmdport 0\npidfile %s\ndriftfile %s\n%s", filepath.Join(dir, "pid"), filepath.Join(dir, "drift"), extra)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Serve starts chronyd serving its host's clock at stratum Stratum on a
// free 127.0.0.1 port and returns the address once it answers (ready
// reports whether an address answers usably). It is stopped at cleanup.
func Serve(t testing.TB, ready func(addr string) bool) string {
	t.Helper()
	chronyd := testenv.LookTool(t, "chronyd", "chrony")
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	p := conf(t, fmt.Sprintf("port %d\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum %d\n", port, Stratum))
	cmd := exec.Command(chronyd, "-d", "-x", "-u", "root", "-f", p)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ready(addr) {
			return addr
		}
	}
	t.Fatalf("chronyd on %s never answered", addr)
	return ""
}

// Measure has chronyd (-Q: measure, never set) ask the NTP server at
// 127.0.0.1:port once and returns how far that server is ahead of the
// host's clock.
func Measure(t testing.TB, port string) time.Duration {
	t.Helper()
	chronyd := testenv.LookTool(t, "chronyd", "chrony")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, chronyd, "-Q", "-u", "root", "-f", conf(t, ""), "-t", "20",
		fmt.Sprintf("server 127.0.0.1 port %s iburst maxsamples 1", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("chronyd -Q: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`System clock wrong by (-?[0-9.]+) seconds`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("chronyd found no offset:\n%s", out)
	}
	s, _ := strconv.ParseFloat(string(m[1]), 64)
	return time.Duration(s * float64(time.Second))
}
