package camsimtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// play reads url over TCP, counting packets, until the test ends.
func play(t testing.TB, url string, packets *atomic.Int64) *gortsplib.Client {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("describe %s: %v", url, err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { packets.Add(1) })
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestProcess runs camsim as its own process and injects a fault over the
// control endpoint.
func TestProcess(t *testing.T) {
	p := Start(t, "-cameras", "2")
	var n atomic.Int64
	c := play(t, p.URL("cam2/sub"), &n)
	time.Sleep(500 * time.Millisecond)
	if n.Load() == 0 {
		t.Fatal("no packets")
	}
	if err := p.TryFault("cam2", "stall", "for=bad"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("malformed fault: %v, want a 400", err)
	}
	p.Fault(t, "cam2", "drop", "")
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("drop over the control endpoint did not close the session")
	}
}

// cpuTicks is the user+system CPU time of a process in clock ticks (1/100 s).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat %q", s)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc stat %q", s)
	}
	return u + k, nil
}

func rssKB(pid int) int64 {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// TestCPUBench measures camsim's own CPU with N cameras and one reader on
// each main stream. It runs only when CAMSIM_BENCH lists camera counts
// (make bench-camsim sets CAMSIM_BENCH=16,64) and prints BENCH lines.
func TestCPUBench(t *testing.T) {
	counts := os.Getenv("CAMSIM_BENCH")
	if counts == "" {
		t.Skip("set CAMSIM_BENCH=16,64 (make bench-camsim)")
	}
	window := 20 * time.Second
	if s := os.Getenv("CAMSIM_BENCH_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("CAMSIM_BENCH_SECONDS=%q", s)
		}
		window = time.Duration(n) * time.Second
	}
	for _, f := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("CAMSIM_BENCH=%q: want camera counts like 16,64", counts)
		}
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			args := []string{"-cameras", strconv.Itoa(n), "-no-h265-camera", "-quiet"}
			if dir := os.Getenv("CAMSIM_BENCH_PROFILE"); dir != "" {
				args = append(args, "-cpuprofile", filepath.Join(dir, fmt.Sprintf("camsim-%d.pprof", n)))
			}
			p := Start(t, args...)
			var pkts atomic.Int64
			for k := 1; k <= n; k++ {
				play(t, p.URL(fmt.Sprintf("cam%d", k)), &pkts)
			}
			time.Sleep(3 * time.Second) // warm up: every reader past its first key frame
			pid := p.Cmd.Process.Pid
			c0, err := cpuTicks(pid)
			if err != nil {
				t.Fatal(err)
			}
			p0, t0 := pkts.Load(), time.Now()
			time.Sleep(window)
			c1, err := cpuTicks(pid)
			if err != nil {
				t.Fatal(err)
			}
			wall := time.Since(t0)
			got := pkts.Load() - p0
			pct := float64(c1-c0) / 100 / wall.Seconds() * 100
			// Each 720p clip sends ~360 packets/s; readers must have kept up.
			if perCam := float64(got) / wall.Seconds() / float64(n); perCam < 300 {
				t.Errorf("readers got %.0f packets/s per camera: camsim did not keep up", perCam)
			}
			fmt.Printf("BENCH camsim_cpu_per_camera_%d %.3f %%core\n", n, pct/float64(n))
			fmt.Printf("BENCH camsim_cpu_total_%d %.1f %%core\n", n, pct)
			fmt.Printf("BENCH camsim_rss_%d %.1f MB\n", n, float64(rssKB(pid))/1024)
		})
	}
}
