package search

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// TestCrashChild is the writer that TestSIGKILLLosesNoCommittedEvent kills;
// it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir, round := os.Getenv("SEARCH_CRASH_DIR"), os.Getenv("SEARCH_CRASH_ROUND")
	if dir == "" {
		t.Skip("run by TestSIGKILLLosesNoCommittedEvent")
	}
	x, err := Open(dir, Options{BatchSize: 40, FlushEvery: 5 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		fmt.Printf("open failed: %v\n", err)
		os.Exit(3)
	}
	for n := 0; ; n++ {
		x.Publish(events.Event{ID: fmt.Sprintf("r%s-%06d", round, n), Type: events.Motion, Camera: "cam" + round,
			Start: base.Add(time.Duration(n) * time.Second), Text: "sự kiện trước khi mất điện"})
		if n%25 == 24 {
			if err := x.Flush(); err != nil {
				fmt.Printf("flush failed: %v\n", err)
				os.Exit(4)
			}
			fmt.Printf("committed %d\n", n+1) // events 0..n are committed
		}
	}
}

// A writer killed with SIGKILL at random points, again and again, leaves an
// index that opens without repair and holds every event it reported as
// committed.
func TestSIGKILLLosesNoCommittedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	dir := filepath.Join(t.TempDir(), "events.bleve")
	want := map[string]int{}
	for round, killAfter := range []int{1, 7, 3, 12} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), "SEARCH_CRASH_DIR="+dir, fmt.Sprintf("SEARCH_CRASH_ROUND=%d", round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		commits, committed := 0, 0
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "committed "); ok {
				committed, _ = strconv.Atoi(n)
				if commits++; commits == killAfter {
					// Kill mid-stream: the writer is already publishing the next batch.
					time.Sleep(time.Duration(round*3) * time.Millisecond)
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
				continue
			}
			t.Fatalf("writer round %d: %s", round, line)
		}
		cmd.Wait()
		if committed == 0 {
			t.Fatalf("round %d: writer committed nothing", round)
		}
		want[fmt.Sprintf("r%d", round)] = committed

		x, err := Open(dir, Options{Logf: t.Logf})
		if err != nil {
			t.Fatalf("round %d: open after SIGKILL: %v", round, err)
		}
		if x.Repaired != "" {
			t.Fatalf("round %d: index needed repair after SIGKILL", round)
		}
		for r, n := range want {
			for _, i := range []int{0, n / 2, n - 1} {
				id := fmt.Sprintf("%s-%06d", r, i)
				d, err := x.idx.Document(id)
				if err != nil || d == nil {
					t.Fatalf("round %d: committed event %s lost (%v)", round, id, err)
				}
			}
			res, err := x.Search(t.Context(), Query{Cameras: []string{"cam" + r[1:]}, Size: 1})
			if err != nil || res.Total < uint64(n) {
				t.Fatalf("round %d: camera %s has %v events (%v), want at least %d", round, r, res, err, n)
			}
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRepairsBrokenIndex(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "events.bleve")
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x.Publish(events.Event{Type: events.Login, Start: base})
	x.Close()
	if err := os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	x, err = Open(dir, Options{Logf: t.Logf})
	if err != nil {
		t.Fatalf("open of a broken index: %v", err)
	}
	defer x.Close()
	if x.Repaired == "" {
		t.Fatal("broken index not reported as repaired")
	}
	if _, err := os.Stat(x.Repaired); err != nil {
		t.Errorf("broken index not kept aside: %v", err)
	}
	x.Publish(events.Event{Type: events.Login, Start: base})
	if err := x.Flush(); err != nil {
		t.Fatalf("new index does not take events: %v", err)
	}
}

// A torn last record and records written before a crash that bleve never
// got are dropped when the timeline is read back.
func TestTimelineTornAndUncommitted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "events.bleve")
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sample(20) {
		x.Publish(e)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "timeline.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ghost := events.Event{ID: "ghost", Type: events.Motion, Camera: "cam9", Start: base}
	f.Write(encodeRec(nil, &ghost))     // prepared, never committed to bleve
	f.Write(encodeRec(nil, &ghost)[:7]) // torn
	f.Close()
	x, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	res, err := x.Search(t.Context(), Query{})
	if err != nil || res.Total != 20 {
		t.Fatalf("after a torn timeline: %v events (%v), want 20", res, err)
	}
	x.Publish(events.Event{ID: "after", Type: events.Login, Camera: "cam1", Start: base.Add(time.Hour)})
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	if res, _ := x.Search(t.Context(), Query{}); res.Total != 21 || res.Events[0].ID != "after" {
		t.Fatalf("appending after the cut: %d events, first %v", res.Total, res.Events[0].ID)
	}
}
