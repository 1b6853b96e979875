package search

import (
	"bufio"
	"fmt"
	"io/fs"
	"math/rand/v2"
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
		// Kill mid-stream: the writer is already publishing the next batch.
		committed := killedWriter(t, dir, round, killAfter, time.Duration(round*3)*time.Millisecond)
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
	x := mustOpen(t, dir, Options{})
	x.Publish(events.Event{Type: events.CameraOnline, Start: base})
	x.Close()
	if err := os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	x, err := Open(dir, Options{Logf: t.Logf})
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
	x.Publish(events.Event{Type: events.CameraOnline, Start: base})
	if err := x.Flush(); err != nil {
		t.Fatalf("new index does not take events: %v", err)
	}
}

// A torn last record of the event log (a power cut mid-write) is cut off,
// every whole record is kept, and bleve, which never saw the last whole
// record, indexes it at open.
func TestEventLogTornTail(t *testing.T) {
	for _, cut := range []int{1, 4, 7, 8, 9, 30} {
		t.Run(strconv.Itoa(cut), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "events.bleve")
			x := mustOpen(t, dir, Options{})
			for _, e := range sample(20) {
				x.Publish(e)
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(dir+".log", os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			whole := events.Event{ID: "whole", Type: events.Motion, Camera: "cam9", Start: base, Text: "kho lúa"}
			torn := events.Event{ID: "torn", Type: events.Motion, Camera: "cam9", Start: base, Text: "bị cắt"}
			b, _ := encodeRecord(nil, &whole)
			f.Write(b) // fsynced in the log, never reached bleve
			b, _ = encodeRecord(nil, &torn)
			f.Write(b[:min(cut, len(b)-1)])
			f.Close()
			x = mustOpen(t, dir, Options{})
			defer x.Close()
			res, err := x.Search(t.Context(), Query{})
			if err != nil || res.Total != 21 {
				t.Fatalf("after a torn log: %v events (%v), want 21", res, err)
			}
			if res, err := x.Search(t.Context(), Query{Text: "lúa"}); err != nil || res.Total != 1 || res.Events[0].ID != "whole" {
				t.Fatalf("free text for the record bleve never saw: %+v (%v)", res, err)
			}
			x.Publish(events.Event{ID: "after", Type: events.CameraOnline, Camera: "cam1", Start: base.Add(time.Hour)})
			if err := x.Flush(); err != nil {
				t.Fatal(err)
			}
			if res, _ := x.Search(t.Context(), Query{}); res.Total != 22 || res.Events[0].ID != "after" {
				t.Fatalf("appending after the cut: %d events, first %v", res.Total, res.Events[0].ID)
			}
		})
	}
}

// damageBleve truncates or deletes some of the bleve index's files and
// garbles some that are not segments (what a power cut does to files whose
// directory scorch never fsynced, or that it never fsynced at all).
func damageBleve(t *testing.T, dir string, rng *rand.Rand) {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatalf("no bleve files in %s", dir)
	}
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	for _, p := range files[:1+rng.IntN(len(files))] {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mode := rng.IntN(3)
		if mode == 2 && filepath.Ext(p) == ".zap" {
			// Scorch fsyncs segment files before it names them in
			// root.bolt: a power cut loses or truncates them (no
			// directory fsync), it does not garble their middle.
			mode = rng.IntN(2)
		}
		switch mode {
		case 0:
			os.Truncate(p, rng.Int64N(fi.Size()+1))
		case 1:
			os.Remove(p)
		case 2:
			junk := make([]byte, 64)
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err == nil {
				f.WriteAt(junk, rng.Int64N(fi.Size()+1))
				f.Close()
			}
		}
	}
}

// Whatever happens to bleve's files, after a clean close or after SIGKILL,
// every committed event comes back at open, free text finds them, and the
// index takes new events, without a manual repair.
func TestDamagedBleveIsRebuiltFromLog(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			dir := filepath.Join(t.TempDir(), "events.bleve")
			want := 0
			if seed%2 == 1 && !testing.Short() {
				want = killedWriter(t, dir, int(seed), 4, 0)
			} else {
				x := mustOpen(t, dir, Options{BatchSize: 50})
				for i := range 300 {
					x.Publish(events.Event{ID: fmt.Sprintf("r%d-%06d", seed, i), Type: events.Motion, Camera: fmt.Sprintf("cam%d", seed),
						Start: base.Add(time.Duration(i) * time.Second), Text: "sự kiện trước khi mất điện"})
					if i%50 == 49 {
						x.Flush()
					}
				}
				if err := x.Close(); err != nil {
					t.Fatal(err)
				}
				want = 300
			}
			damageBleve(t, dir, rng)
			x, err := Open(dir, Options{Logf: t.Logf})
			if err != nil {
				t.Fatalf("open after damage: %v", err)
			}
			defer x.Close()
			res, err := x.Search(t.Context(), Query{Size: 1})
			if err != nil || res.Total < uint64(want) {
				t.Fatalf("after damage: %v events (%v), want at least %d", res, err, want)
			}
			for _, i := range []int{0, want / 2, want - 1} {
				id := fmt.Sprintf("r%d-%06d", seed, i)
				if d, err := x.idx.Document(id); err != nil || d == nil {
					t.Fatalf("committed event %s not in bleve after damage (%v)", id, err)
				}
			}
			res, err = x.Search(t.Context(), Query{Text: "mất điện", Size: 1})
			if err != nil || res.Total < uint64(want) {
				t.Fatalf("free text after damage: %v (%v), want at least %d", res, err, want)
			}
			x.Publish(events.Event{ID: "after", Type: events.CameraOnline, Start: base.Add(time.Hour), Text: "đăng nhập"})
			if err := x.Flush(); err != nil {
				t.Fatal(err)
			}
			if res, err := x.Search(t.Context(), Query{Text: "đăng nhập"}); err != nil || res.Total != 1 {
				t.Fatalf("new event after damage: %v (%v)", res, err)
			}
		})
	}
}

// killedWriter runs TestCrashChild on dir as round, kills it wait after
// its killAfter-th reported commit and returns how many events it reported
// committed.
func killedWriter(t *testing.T, dir string, round, killAfter int, wait time.Duration) int {
	t.Helper()
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
	committed, commits := 0, 0
	for sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "committed ")
		if !ok {
			t.Fatalf("writer round %d: %s", round, sc.Text())
		}
		committed, _ = strconv.Atoi(n)
		if commits++; commits == killAfter {
			time.Sleep(wait)
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if committed == 0 {
		t.Fatalf("round %d: writer committed nothing", round)
	}
	return committed
}

// A long log tail is indexed in the background: Open returns at once,
// filter queries see every event from the timeline, new events are taken
// meanwhile, and free text finds them all once the rebuild is done.
func TestBackgroundRebuild(t *testing.T) {
	defer func(v int64) { syncCatchUpBytes = v }(syncCatchUpBytes)
	syncCatchUpBytes = 1 << 10
	dir := filepath.Join(t.TempDir(), "events.bleve")
	x := mustOpen(t, dir, Options{BatchSize: 100})
	for i := range 2000 {
		x.Publish(events.Event{ID: fmt.Sprintf("e%05d", i), Type: events.Motion, Camera: "cam1",
			Start: base.Add(time.Duration(i) * time.Second), Text: "xe máy qua cổng"})
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil { // the index is lost, the log is not
		t.Fatal(err)
	}
	x = mustOpen(t, dir, Options{BatchSize: 100, Logf: t.Logf})
	defer x.Close()
	res, err := x.Search(t.Context(), Query{Cameras: []string{"cam1"}, Size: 5})
	if err != nil || res.Total != 2000 || len(res.Events) != 5 || res.Events[0].ID != "e01999" {
		t.Fatalf("filter query during the rebuild: %+v (%v)", res, err)
	}
	x.Publish(events.Event{ID: "during", Type: events.CameraOnline, Camera: "cam2", Start: base.Add(time.Hour), Text: "xe máy"})
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	<-x.catchDone // closed after the rebuild and its last catch-up
	res, err = x.Search(t.Context(), Query{Text: "xe máy", Size: 1})
	if err != nil || res.Total != 2001 {
		t.Fatalf("free text after the rebuild: %v (%v), want 2001", res, err)
	}
}

// A log whose header is not ours is kept aside and a new log started: the
// box keeps recording events without a manual repair.
func TestGarbledLogHeaderIsMovedAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "events.bleve")
	if err := os.WriteFile(dir+".log", []byte("this is no event log at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := mustOpen(t, dir, Options{Logf: t.Logf})
	defer x.Close()
	if m, _ := filepath.Glob(dir + ".log.broken-*"); len(m) != 1 {
		t.Fatalf("garbled log not kept aside: %v", m)
	}
	x.Publish(events.Event{ID: "a", Type: events.CameraOnline, Start: base})
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	if res, err := x.Search(t.Context(), Query{}); err != nil || res.Total != 1 {
		t.Fatalf("after a new log: %v (%v)", res, err)
	}
}

// After retention deletes, the rewritten log and bleve's mark agree: a
// reopen neither brings deleted events back nor re-indexes, and a rebuild
// from the log has only the kept events.
func TestDeleteThenReopenAndRebuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "events.bleve")
	x := mustOpen(t, dir, Options{})
	for _, e := range sample(200) {
		x.Publish(e)
	}
	if n, err := x.DeleteBefore(t.Context(), base.Add(50*time.Minute), ""); err != nil || n != 50 {
		t.Fatalf("DeleteBefore = %d, %v; want 50", n, err)
	}
	x.Publish(events.Event{ID: "after", Type: events.CameraOnline, Start: base.Add(300 * time.Minute)})
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	for _, lose := range []bool{false, true} {
		if lose {
			os.RemoveAll(dir)
		}
		var logged []string
		x = mustOpen(t, dir, Options{Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
		res, err := x.Search(t.Context(), Query{Size: 200})
		if c, _ := x.Count(); err != nil || res.Total != 151 || c != 151 || res.Events[0].ID != "after" {
			t.Fatalf("lose index %v: timeline %d, bleve %d (%v)", lose, res.Total, c, err)
		}
		var n, end, had int64
		if _, err := fmt.Sscanf(logged[0], "search: %d events in the event log (%d bytes); the index had %d bytes of it", &n, &end, &had); err != nil || n != 151 {
			t.Fatalf("open said %q (%v)", logged, err)
		}
		if !lose && had != end {
			t.Fatalf("after a clean close the index lags the log: %q", logged[0])
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Segment files garbled inside (bit rot on the card) never panic the
// daemon: Open rebuilds what it cannot load, and a search that trips over
// damage bleve opened anyway returns an error.
func TestGarbledSegmentsDoNotPanic(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 3))
		dir := filepath.Join(t.TempDir(), "events.bleve")
		x := mustOpen(t, dir, Options{BatchSize: 50})
		for _, e := range sample(300) {
			x.Publish(e)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		zaps, _ := filepath.Glob(filepath.Join(dir, "store", "*.zap"))
		for _, p := range zaps {
			fi, _ := os.Stat(p)
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			for range 4 {
				junk := make([]byte, 32)
				for i := range junk {
					junk[i] = byte(rng.Uint32())
				}
				f.WriteAt(junk, rng.Int64N(fi.Size()))
			}
			f.Close()
		}
		x, err := Open(dir, Options{Logf: func(string, ...any) {}})
		if err != nil {
			t.Fatalf("seed %d: open: %v", seed, err)
		}
		for _, q := range []Query{{Text: "cổng"}, {}, {Cameras: []string{"cam1"}}} {
			if _, err := x.Search(t.Context(), q); err != nil { // an error is fine, a panic is not
				t.Logf("seed %d: %v", seed, err)
			}
		}
		if res, err := x.Search(t.Context(), Query{}); err != nil || res.Total != 300 {
			t.Fatalf("seed %d: filter query from the timeline: %v (%v)", seed, res, err)
		}
		x.Close()
	}
}
