package ntp

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

// freeUDPPort returns a port that was free on 127.0.0.1 a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// chronyConf writes a configuration that never touches the host's clock
// (chronyd also runs with -x) and has no command socket.
func chronyConf(t *testing.T, dir, extra string) string {
	t.Helper()
	conf := filepath.Join(dir, "chrony.conf")
	body := fmt.Sprintf("cmdport 0\npidfile %s\ndriftfile %s\n%s", filepath.Join(dir, "pid"), filepath.Join(dir, "drift"), extra)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// An independent implementation (chrony) serves; our client reads it.
func TestClientAgainstChrony(t *testing.T) {
	chronyd := testenv.LookTool(t, "chronyd", "chrony")
	dir := t.TempDir()
	port := freeUDPPort(t)
	conf := chronyConf(t, dir, fmt.Sprintf("port %d\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n", port))
	cmd := exec.Command(chronyd, "-d", "-x", "-u", "root", "-f", conf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cl := Client{Samples: 3, Gap: 10 * time.Millisecond, Timeout: 500 * time.Millisecond}
	var s Sample
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if s, err = cl.Best(context.Background(), addr); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("chronyd never answered usably: %v", err)
	}
	if s.Stratum != 8 {
		t.Errorf("stratum %d, want chrony's local stratum 8", s.Stratum)
	}
	if s.Offset < -50*time.Millisecond || s.Offset > 50*time.Millisecond {
		t.Errorf("offset to a server on the same clock %v, want ~0", s.Offset)
	}
}

// Our server serves a clock 5 s ahead; chrony, as a client (-Q: measure,
// never set), must see it 5 s ahead.
func TestServerAgainstChrony(t *testing.T) {
	chronyd := testenv.LookTool(t, "chronyd", "chrony")
	const skew = 5 * time.Second
	addr := serve(t, &Server{Now: skewed(skew), Synced: yes})
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := chronyConf(t, dir, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, chronyd, "-Q", "-u", "root", "-f", conf, "-t", "20",
		fmt.Sprintf("server 127.0.0.1 port %s iburst maxsamples 1", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("chronyd -Q: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`System clock wrong by (-?[0-9.]+) seconds`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("chronyd found no offset:\n%s", out)
	}
	got, _ := strconv.ParseFloat(string(m[1]), 64)
	if d := time.Duration(got*float64(time.Second)) - skew; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("chrony sees our clock off by %.3f s, want %v", got, skew)
	}
}
