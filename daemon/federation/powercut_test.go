package federation

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/search"
)

// TestPowerCutHelper is the box process TestPowerCut kills: it writes
// events into its log as fast as it can while publishing them.
func TestPowerCutHelper(t *testing.T) {
	dir := os.Getenv("FED_HELPER_DIR")
	if dir == "" {
		t.Skip("run by TestPowerCut")
	}
	n, _ := strconv.Atoi(os.Getenv("FED_HELPER_EVENTS"))
	cfg := Config{URL: os.Getenv("FED_HELPER_URL"), Box: "pa", NKeySeed: os.Getenv("FED_HELPER_SEED")}
	cur, err := OpenCursor(filepath.Join(dir, "district.cursor"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := search.Open(filepath.Join(dir, "events"), search.Options{Logf: func(string, ...any) {}, FlushEvery: 20 * time.Millisecond, BatchSize: 200, Hold: cur.Hold})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartBox(BoxOptions{Config: cfg, Outbox: idx, Cursor: cur, Batch: 200, Poll: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i := range n {
		idx.Publish(events.Event{ID: fmt.Sprintf("k%d", i), Type: events.Motion, Camera: "cam1", Start: t0.Add(time.Duration(i) * time.Millisecond)})
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.WriteFile(filepath.Join(dir, "produced"), nil, 0o644)
	select {} // until killed
}

// TestPowerCut: a box process is killed with SIGKILL while it publishes;
// restarted, it sends the rest, and the district holds every event the
// box's log committed exactly once.
func TestPowerCut(t *testing.T) {
	ts := newServer(t, "pa")
	d := ts.openDistrict(t)
	dir := t.TempDir()
	run := func(events int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPowerCutHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "FED_HELPER_DIR="+dir, "FED_HELPER_URL="+ts.url, "FED_HELPER_SEED="+ts.seeds["pa"],
			"FED_HELPER_EVENTS="+strconv.Itoa(events))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := run(20000)
	// Kill it mid-publish: once the district has some but not all.
	waitFor(t, 60*time.Second, "the district to get the first events", func() bool {
		a, _ := d.Stats()
		return a >= 2000
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	a, _ := d.Stats()
	t.Logf("killed with %d events at the district", a)
	// What the box's log committed is the truth.
	idx, err := search.Open(filepath.Join(dir, "events"), search.Options{Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	committed := idx.LastSeq()
	idx.Close()
	if committed == 0 {
		t.Fatal("nothing committed")
	}
	cmd = run(0)
	defer func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }()
	waitFor(t, 60*time.Second, "the district to hold every committed event", func() bool {
		n, _ := d.Index.Count()
		return n >= committed
	})
	time.Sleep(500 * time.Millisecond)
	n, _ := d.Index.Count()
	if n != committed {
		t.Fatalf("district holds %d events, the box committed %d", n, committed)
	}
	for seq := uint64(1); seq <= committed; seq++ {
		// IDs k0.. got Seq 1.. in order (one version each).
		e, ok, _ := d.Index.Get(fmt.Sprintf("pa/k%d", seq-1))
		if !ok || e.Seq != seq {
			t.Fatalf("event k%d: %v %+v", seq-1, ok, e)
		}
	}
	applied, repeats := d.Stats()
	t.Logf("box committed %d; district applied %d, ignored %d repeats", committed, applied, repeats)
}
