package search

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// outboxT0 is when the outbox tests' events start.
var outboxT0 = time.Unix(1_700_000_000, 0)

func outboxEvent(i int, start time.Time) events.Event {
	return events.Event{ID: fmt.Sprintf("e%d", i), Type: events.Motion, Camera: "cam1", Start: start}
}

// publishEvents publishes events e0..e(n-1), starting every apart from
// outboxT0.
func publishEvents(x *Index, n int, every time.Duration) {
	for i := range n {
		x.Publish(outboxEvent(i, outboxT0.Add(time.Duration(i)*every)))
	}
}

// TestSeqAndReadAfter: committed events get consecutive sequence numbers
// that survive a reopen and a rewrite deleting every event; ReadAfter
// returns them in order from any cursor.
func TestSeqAndReadAfter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events")
	x := mustOpen(t, path, Options{Logf: t.Logf})
	t0 := outboxT0
	publishEvents(x, 10, time.Second)
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := x.LastSeq(); got != 10 {
		t.Fatalf("LastSeq = %d, want 10", got)
	}
	for _, tt := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{3, 3, []uint64{4, 5, 6}},
		{8, 5, []uint64{9, 10}},
		{10, 5, nil},
		{2, 1, []uint64{3}}, // backwards: from the start again
	} {
		evs, err := x.ReadAfter(tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, e := range evs {
			got = append(got, e.Seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ReadAfter(%d, %d) = %v, want %v", tt.after, tt.limit, got, tt.want)
		}
	}
	// Republished: a new Seq.
	e := outboxEvent(3, t0.Add(3*time.Second))
	e.Text = "ended"
	x.Publish(e)
	x.Flush()
	if evs, _ := x.ReadAfter(10, 5); len(evs) != 1 || evs[0].Seq != 11 || evs[0].Text != "ended" {
		t.Fatalf("republished event: %+v", evs)
	}
	if _, err := x.DeleteBefore(context.Background(), t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x = mustOpen(t, path, Options{Logf: t.Logf})
	defer x.Close()
	x.Publish(outboxEvent(99, t0.Add(2*time.Hour)))
	x.Flush()
	if evs, _ := x.ReadAfter(0, 5); len(evs) != 1 || evs[0].Seq != 12 {
		t.Fatalf("after deleting everything and reopening: %+v, want one event with Seq 12", evs)
	}
}

// TestHoldKeepsUnacknowledged: retention deletes nothing the outbox has
// not had acknowledged; once acknowledged, it goes.
func TestHoldKeepsUnacknowledged(t *testing.T) {
	var acked atomic.Uint64
	x := mustOpen(t, filepath.Join(t.TempDir(), "events"), Options{Logf: t.Logf, Hold: acked.Load})
	defer x.Close()
	t0 := outboxT0
	publishEvents(x, 100, time.Minute)
	x.Flush()
	acked.Store(40) // events 1..40 (e0..e39) acknowledged
	n, err := x.DeleteBefore(context.Background(), t0.Add(90*time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if n != 40 {
		t.Fatalf("deleted %d, want the 40 acknowledged", n)
	}
	evs, _ := x.ReadAfter(40, 1000)
	if len(evs) != 60 || evs[0].ID != "e40" {
		t.Fatalf("held events: %d, first %+v", len(evs), evs[0])
	}
	acked.Store(100)
	if n, _ := x.DeleteBefore(context.Background(), t0.Add(90*time.Minute), ""); n != 50 {
		t.Fatalf("after the acknowledgement deleted %d, want 50", n)
	}
}

// TestHoldOverBudget: past the size budget, held events stay; once
// acknowledged, the budget trims them.
func TestHoldOverBudget(t *testing.T) {
	var acked atomic.Uint64
	x := mustOpen(t, filepath.Join(t.TempDir(), "events"), Options{Logf: t.Logf, Hold: acked.Load, MaxLogBytes: 4096, FlushEvery: 10 * time.Millisecond})
	defer x.Close()
	publishEvents(x, 200, time.Second)
	x.Flush()
	time.Sleep(100 * time.Millisecond) // the writer tries to trim
	if n, _ := x.Count(); n != 200 {
		t.Fatalf("%d events left, want all 200 held", n)
	}
	acked.Store(200)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := x.Count(); n < 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("acknowledged events were not trimmed to the budget")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
