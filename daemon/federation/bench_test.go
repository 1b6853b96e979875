package federation

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/hwtest/fedtest"
)

// TestReplayBench (make bench-federation): a box's outbox replays 100,000
// events written while the district's server was down; 5,000 events it
// had sent before the outage are sent again after JetStream's duplicate
// window has passed (a restored cursor), and the district drops them.
// BENCH federation_replay_events_per_s: events applied per second from
// the server's restart until the district holds them all.
func TestReplayBench(t *testing.T) {
	if os.Getenv("MATTHAN_FEDERATION_BENCH") == "" {
		t.Skip("make bench-federation")
	}
	n, early := 100_000, 5_000
	if v, err := strconv.Atoi(os.Getenv("MATTHAN_FEDERATION_BENCH_EVENTS")); err == nil && v > 0 {
		n = v // a quicker look
	}
	ts := newServer(t, "rb")
	d, err := OpenDistrict(DistrictOptions{URL: ts.url, User: districtUser, Password: districtPass, DataDir: t.TempDir(),
		DuplicateWindow: 2 * time.Second, Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := openTestBox(t, ts, "rb", t.TempDir(), nil)
	t0 := time.Now().Add(-24 * time.Hour)
	for i := range early {
		b.idx.Publish(events.Event{ID: fmt.Sprintf("e%d", i), Type: events.Motion, Camera: "cam1", Start: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	b.idx.Flush()
	waitFor(t, 60*time.Second, "the early events", func() bool { a, _ := d.Stats(); return int(a) == early })
	ts.stop()
	for i := early; i < early+n; i++ {
		b.idx.Publish(events.Event{ID: fmt.Sprintf("e%d", i), Type: events.Motion, Camera: "cam1", Start: t0.Add(time.Duration(i) * time.Millisecond), Text: "xe máy"})
	}
	if err := b.idx.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // past the duplicate window
	// The cursor as a restored backup had it: the early events go again.
	b.box.Close()
	b.box = nil
	if err := b.cursor.Reset(0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ts.start()
	bx, err := StartBox(BoxOptions{Config: ts.boxConfig("rb"), Outbox: b.idx, Cursor: b.cursor, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer bx.Close()
	waitFor(t, 10*time.Minute, "the replay", func() bool { c, _ := d.Index.Count(); return int(c) >= early+n })
	el := time.Since(start)
	c, _ := d.Index.Count()
	applied, repeats := d.Stats()
	if int(c) != early+n || int(applied) != early+n || int(repeats) < early {
		t.Fatalf("district holds %d, applied %d, ignored %d repeats; want %d, %d, at least %d", c, applied, repeats, early+n, early+n, early)
	}
	t.Logf("replayed %d events (+%d sent again past the duplicate window; %d repeats dropped) in %v", n, early, repeats, el.Round(time.Millisecond))
	fmt.Printf("BENCH federation_replay_events_per_s %.0f events/s\n", float64(n+early)/el.Seconds())
}

// Clip bench: the box runs in its own network namespace (dist-box) behind a
// veth pair shaped to 10 Mbit/s with tc; the server and the district are
// on the host side.
const (
	benchNS     = "dist-box"
	benchHostIf = "dist-h"
	benchBoxIf  = "dist-b"
	benchHostIP = "10.213.7.1"
	benchBoxIP  = "10.213.7.2"
)

func sh(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestClipBenchBox is the box of TestClipBench, run inside the namespace.
func TestClipBenchBox(t *testing.T) {
	env := os.Getenv("FED_CLIPBOX")
	if env == "" {
		t.Skip("run by TestClipBench")
	}
	var cfg Config
	cfg.URL, cfg.Box, cfg.NKeySeed, cfg.DistrictKey = os.Getenv("FED_URL"), "cb", os.Getenv("FED_SEED"), os.Getenv("FED_DKEY")
	kb, _ := base64.StdEncoding.DecodeString(os.Getenv("FED_BOXKEY"))
	clips := &fakeBoxClips{src: env, boxKey: ed25519.PrivateKey(kb), shared: map[string]bool{"road1": true}, work: t.TempDir()}
	dk, _ := base64.StdEncoding.DecodeString(cfg.DistrictKey)
	clips.district = dk
	cur, _ := OpenCursor(filepath.Join(t.TempDir(), "cursor"))
	idx, err := search.Open(filepath.Join(t.TempDir(), "events"), search.Options{Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	pub := clips.boxKey.Public().(ed25519.PublicKey)
	if _, err := StartBox(BoxOptions{Config: cfg, Outbox: idx, Cursor: cur, Clips: clips, HealthEvery: time.Second,
		Health: func() Health { return Health{KeyFingerprint: evidence.Fingerprint(pub)} }, Logf: t.Logf}); err != nil {
		t.Fatal(err)
	}
	select {}
}

// TestClipBench (make bench-federation): BENCH federation_clip_fetch_s, a
// 60 s 1080p clip fetched from a box over a 10 Mbit/s link.
func TestClipBench(t *testing.T) {
	if os.Getenv("MATTHAN_FEDERATION_BENCH") == "" {
		t.Skip("make bench-federation")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and tc")
	}
	src := fedtest.MakeClip(t, t.TempDir(), 60)
	st, _ := os.Stat(src)
	exec.Command("ip", "netns", "del", benchNS).Run()
	exec.Command("ip", "link", "del", benchHostIf).Run()
	sh(t, "ip", "netns", "add", benchNS)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", benchNS).Run()
		exec.Command("ip", "link", "del", benchHostIf).Run()
	})
	sh(t, "ip", "link", "add", benchHostIf, "type", "veth", "peer", "name", benchBoxIf)
	sh(t, "ip", "link", "set", benchBoxIf, "netns", benchNS)
	sh(t, "ip", "addr", "add", benchHostIP+"/24", "dev", benchHostIf)
	sh(t, "ip", "link", "set", benchHostIf, "up")
	sh(t, "ip", "netns", "exec", benchNS, "ip", "addr", "add", benchBoxIP+"/24", "dev", benchBoxIf)
	sh(t, "ip", "netns", "exec", benchNS, "ip", "link", "set", benchBoxIf, "up")
	sh(t, "ip", "netns", "exec", benchNS, "ip", "link", "set", "lo", "up")
	// 10 Mbit/s each way (the box's uplink is what carries the clip).
	sh(t, "ip", "netns", "exec", benchNS, "tc", "qdisc", "add", "dev", benchBoxIf, "root", "tbf", "rate", "10mbit", "burst", "32kbit", "latency", "50ms")
	sh(t, "tc", "qdisc", "add", "dev", benchHostIf, "root", "tbf", "rate", "10mbit", "burst", "32kbit", "latency", "50ms")

	port := fedtest.FreePort(t)
	ns := fedtest.Start(t, func(_, storeDir string, keys map[string]string) (string, error) {
		return ServerConfig(fmt.Sprintf("%s:%d", benchHostIP, port), storeDir, fedtest.User, fedtest.Password, []BoxUser{{Box: "cb", NKey: keys["cb"]}}, "", "")
	}, "cb")
	url := fmt.Sprintf("nats://%s:%d", benchHostIP, port)
	d, err := OpenDistrict(DistrictOptions{URL: url, User: fedtest.User, Password: fedtest.Password, DataDir: t.TempDir(), Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, boxKey, _ := ed25519.GenerateKey(nil)
	cmd := exec.Command("ip", "netns", "exec", benchNS, os.Args[0], "-test.run=^TestClipBenchBox$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FED_CLIPBOX="+src, "FED_URL="+url, "FED_SEED="+ns.Seeds["cb"], "FED_DKEY="+d.PublicKey(),
		"FED_BOXKEY="+base64.StdEncoding.EncodeToString(boxKey))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, 30*time.Second, "the box's health", func() bool { return len(d.Boxes()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	to := time.Now().Add(-time.Minute)
	t0 := time.Now()
	fc, err := d.FetchClip(ctx, "bench", "cb", "road1", to.Add(-time.Minute), to)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(t0)
	if !fc.Report.OK() {
		t.Fatalf("manifest does not verify: %+v", fc.Report)
	}
	t.Logf("clip of %.1f MB in %v: %.2f Mbit/s", float64(st.Size())/1e6, el.Round(time.Millisecond), float64(st.Size())*8/1e6/el.Seconds())
	fmt.Printf("BENCH federation_clip_fetch_s %.1f s\n", el.Seconds())
}
