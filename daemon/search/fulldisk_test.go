package search

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/hwtest/testenv"
)

// fill writes a file until the disk is full and returns its name.
func fill(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "fill")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return name
		}
	}
}

// panicky is a bleve index whose batches panic as bleve did on a full
// disk (an assignment to an entry in a nil map).
type panicky struct{ bleveIndex }

type bleveIndex = bleve.Index

func (panicky) Batch(*bleve.Batch) error {
	var m map[string]int
	m["segment"]++
	return nil
}

// TestBlevePanicDoesNotEscape is finding 4: a panic in bleve reached from
// Index.index ended the daemon. Now the events are committed in the log,
// the index is marked broken (text search says so, filters still answer)
// and rebuilt from the log.
func TestBlevePanicDoesNotEscape(t *testing.T) {
	x := mustOpen(t, filepath.Join(t.TempDir(), "events"), Options{RepairEvery: 50 * time.Millisecond, FlushEvery: 10 * time.Millisecond, Logf: t.Logf})
	defer x.Close()
	x.Publish(ev("before", 1, "trước sự cố"))
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	x.bleveMu.Lock()
	x.idxMu.Lock()
	x.idx = panicky{x.idx}
	x.idxMu.Unlock()
	x.lastRepair = time.Now().Add(time.Hour) // no repair until the checks below
	x.bleveMu.Unlock()
	for i := range 5 {
		x.Publish(ev(fmt.Sprintf("during-%d", i), 10+i, "trong sự cố"))
	}
	if err := x.Flush(); err != nil {
		t.Fatalf("flush with a panicking bleve: %v (the events are in the log)", err)
	}
	if !x.broken.Load() {
		t.Fatal("index not marked broken after a bleve panic")
	}
	if _, err := x.Search(t.Context(), Query{Text: "sự cố"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("text search while broken: %v, want ErrUnavailable", err)
	}
	res, err := x.Search(t.Context(), Query{Size: 50})
	if err != nil || res.Total != 6 {
		t.Fatalf("filter search while broken: %+v, %v", res, err)
	}
	x.bleveMu.Lock()
	x.lastRepair = time.Time{}
	x.bleveMu.Unlock()
	testenv.WaitFor(t, "the rebuilt index", 20*time.Second, func() bool {
		res, err := x.Search(t.Context(), Query{Text: "cố", Size: 50})
		return err == nil && res.Total == 6
	})
}

// TestOpensAndRecordsOnAFullDisk is finding 4: the daemon would not start
// when the event index could not be written ("open event index …: no
// space left"). Now Open succeeds without text search, events are kept in
// the queue until the log can take them, and once there is room the index
// is rebuilt.
func TestOpensAndRecordsOnAFullDisk(t *testing.T) {
	dir := testenv.Tmpfs(t, "size=8m")
	ix := filepath.Join(dir, "events")
	// Events in the log that bleve never indexed (it was never made).
	l, err := openEventLog(ix+".log", func(int64, events.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.append([]events.Event{ev("e1", 1, "cửa mở"), ev("e2", 2, "cửa đóng"), ev("e3", 3, "người"), ev("e4", 4, "xe")}); err != nil {
		t.Fatal(err)
	}
	l.close()
	filler := fill(t, dir)

	x, err := Open(ix, Options{RepairEvery: 50 * time.Millisecond, FlushEvery: 10 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	defer x.Close()
	res, err := x.Search(t.Context(), Query{Size: 10})
	if err != nil || res.Total != 4 {
		t.Fatalf("filter search on a full disk: %+v, %v", res, err)
	}
	if _, err := x.Search(t.Context(), Query{Text: "cửa"}); err == nil {
		t.Log("text search answered on a full disk (bleve found room)")
	}
	x.Publish(ev("e5", 5, "cửa mở lần nữa"))
	if err := x.Flush(); err == nil {
		t.Log("flush found room on a full disk")
	}
	os.Remove(filler)
	testenv.WaitFor(t, "text search after the disk has room", 20*time.Second, func() bool {
		res, err := x.Search(t.Context(), Query{Text: "cửa", Size: 10})
		return err == nil && res.Total == 3
	})
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = mustOpen(t, ix, Options{Logf: t.Logf})
	if res, err := x.Search(t.Context(), Query{Size: 10}); err != nil || res.Total != 5 {
		t.Errorf("after reopening: %+v, %v", res, err)
	}
}

// TestFillingDiskNeverPanics: an index writing while its disk fills up
// and empties again never panics and loses no event it committed.
func TestFillingDiskNeverPanics(t *testing.T) {
	dir := testenv.Tmpfs(t, "size=6m")
	x := mustOpen(t, filepath.Join(dir, "events"), Options{RepairEvery: 20 * time.Millisecond, FlushEvery: 5 * time.Millisecond, BatchSize: 50, Logf: func(string, ...any) {}})
	defer x.Close()
	committed := map[string]bool{}
	var filler string
	for round := range 6 {
		if round%2 == 1 {
			filler = fill(t, dir)
		} else if filler != "" {
			os.Remove(filler)
		}
		for i := range 300 {
			id := fmt.Sprintf("r%d-%d", round, i)
			x.Publish(ev(id, round*1000+i, "chuyển động ở cổng "+id))
			if i%50 == 49 {
				if x.Flush() == nil {
					for j := i - 49; j <= i; j++ {
						committed[fmt.Sprintf("r%d-%d", round, j)] = true
					}
				}
			}
		}
	}
	os.Remove(filler)
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	res, err := x.Search(t.Context(), Query{Size: MaxPageSize, To: base.Add(10000 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range res.Events {
		have[e.ID] = true
	}
	for id := range committed {
		if !have[id] && res.Total <= uint64(MaxPageSize) {
			t.Errorf("committed event %s lost", id)
		}
	}
	t.Logf("%d events committed while the disk filled and emptied, %d found", len(committed), res.Total)
}

// TestEventLogBudget: past MaxLogBytes the oldest events are deleted, so
// the log stays bounded by size, not only by retention.
func TestEventLogBudget(t *testing.T) {
	x := mustOpen(t, filepath.Join(t.TempDir(), "events"), Options{MaxLogBytes: 32 << 10, Logf: t.Logf})
	defer x.Close()
	for i := range 1000 {
		x.Publish(ev(fmt.Sprintf("e%04d", i), i, "chuyển động ở cổng trước nhà"))
		if i%100 == 99 {
			if err := x.Flush(); err != nil {
				t.Fatal(err)
			}
			x.trim(t.Context())
		}
	}
	fi, err := os.Stat(x.path + ".log")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 32<<10 {
		t.Errorf("event log of %d bytes, over its budget of %d", fi.Size(), 32<<10)
	}
	res, err := x.Search(t.Context(), Query{Size: 1})
	if err != nil || len(res.Events) != 1 || res.Events[0].ID != "e0999" {
		t.Errorf("newest event after trimming: %+v, %v", res, err)
	}
}

// TestOpensWhenNothingCanBeCreated: a disk without a free inode lets
// neither the event log nor the index be made. Open still succeeds,
// events wait in the queue, and once files can be made they are written
// and indexed.
func TestOpensWhenNothingCanBeCreated(t *testing.T) {
	dir := testenv.Tmpfs(t, "size=8m,nr_inodes=64")
	fillers := testenv.FillInodes(t, dir)
	x, err := Open(filepath.Join(dir, "events"), Options{RepairEvery: 20 * time.Millisecond, FlushEvery: 10 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatalf("open without a free inode: %v", err)
	}
	defer x.Close()
	x.Publish(ev("q1", 1, "chờ ổ đĩa"))
	if err := x.Flush(); err == nil {
		t.Fatal("flush without a free inode succeeded")
	}
	if res, err := x.Search(t.Context(), Query{}); err != nil || res.Total != 0 {
		t.Errorf("search without a log: %+v, %v", res, err)
	}
	for _, f := range fillers {
		os.Remove(f)
	}
	testenv.WaitFor(t, "the queued event, written and indexed", 20*time.Second, func() bool {
		res, err := x.Search(t.Context(), Query{Text: "ổ đĩa"})
		return err == nil && res.Total == 1
	})
}
