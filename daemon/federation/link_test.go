package federation

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/search"
)

// produce publishes events into a box's log until stop is closed: motion
// events that start and end (republished, so two versions each) and
// camera offline events. It returns the IDs it made.
func produce(b *testBox, stop <-chan struct{}, every time.Duration) []string {
	var ids []string
	t0 := time.Now()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return ids
		case <-time.After(every):
		}
		e := events.Event{ID: fmt.Sprintf("m%d", i), Type: events.Motion, Camera: "cam1", Start: t0.Add(time.Duration(i) * time.Millisecond)}
		if i%5 == 0 {
			e.Type, e.ID = events.CameraOffline, fmt.Sprintf("o%d", i)
		}
		b.idx.Publish(e)
		if e.Type == events.Motion {
			e.End = e.Start.Add(time.Second)
			e.Text = "ended"
			b.idx.Publish(e)
		}
		ids = append(ids, e.ID)
	}
}

// checkExactlyOnce: the district holds every event of every box once, in
// its last version.
func checkExactlyOnce(t *testing.T, d *District, boxes []*testBox, want map[string][]string) {
	t.Helper()
	total := 0
	for _, b := range boxes {
		total += len(want[b.id])
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _ := d.Index.Count()
		if int(n) >= total {
			break
		}
		if time.Now().After(deadline) {
			a, r := d.Stats()
			for _, b := range boxes {
				t.Logf("box %s: cursor %d of %d, published %d", b.id, b.cursor.Acked(), b.idx.LastSeq(), b.box.Published())
			}
			t.Fatalf("district holds %d of %d events (applied %d, repeats %d)", n, total, a, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	n, _ := d.Index.Count()
	if int(n) != total {
		t.Fatalf("district holds %d events, want %d", n, total)
	}
	for _, b := range boxes {
		for _, id := range want[b.id] {
			e, ok, err := d.Index.Get(b.id + "/" + id)
			if err != nil || !ok {
				t.Fatalf("event %s/%s missing at the district (%v)", b.id, id, err)
			}
			orig, _, _ := b.idx.Get(id)
			if e.Seq != orig.Seq || e.Text != orig.Text {
				t.Fatalf("event %s/%s: district has seq %d %q, box %d %q", b.id, id, e.Seq, e.Text, orig.Seq, orig.Text)
			}
		}
	}
	res, err := d.Index.Search(context.Background(), search.Query{Size: 1})
	if err != nil || res.Total != uint64(total) {
		t.Fatalf("district search: %v total %d, want %d", err, res.Total, total)
	}
}

// TestLinkDown: three boxes publish (motion events in two versions each)
// while the district's server is stopped for 10 s; after it comes back
// every event is at the district exactly once in its last version, and
// each box's cursor reaches its last event. daemon/e2e's
// TestDistrictThreeBoxes stops it for 15 s under three real matthands.
func TestLinkDown(t *testing.T) {
	ts := newServer(t, "xa", "xb", "xc")
	d := ts.openDistrict(t)
	var boxes []*testBox
	for _, id := range []string{"xa", "xb", "xc"} {
		boxes = append(boxes, openTestBox(t, ts, id, t.TempDir(), nil))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	want := map[string][]string{}
	var mu sync.Mutex
	for _, b := range boxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := produce(b, stop, 10*time.Millisecond)
			mu.Lock()
			want[b.id] = ids
			mu.Unlock()
		}()
	}
	time.Sleep(2 * time.Second)
	ts.stop()
	down := time.Now()
	// Publishes in flight at the stop resolve within the publish timeout
	// (5 s): acknowledged before the stop, or failed. From then on the
	// cursor stands still.
	time.Sleep(6 * time.Second)
	before := boxes[0].cursor.Acked()
	time.Sleep(4 * time.Second)
	if got := boxes[0].cursor.Acked(); got != before {
		t.Errorf("the cursor moved from %d to %d while the server was down", before, got)
	}
	ts.start()
	t.Logf("server down %v; box xa had %d events acknowledged of %d", time.Since(down).Round(time.Second), before, boxes[0].idx.LastSeq())
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	for _, b := range boxes {
		b.idx.Flush()
	}
	checkExactlyOnce(t, d, boxes, want)
	for _, b := range boxes {
		waitFor(t, 10*time.Second, "cursor "+b.id, func() bool { return b.cursor.Acked() == b.idx.LastSeq() })
	}
	applied, repeats := d.Stats()
	t.Logf("district applied %d event versions, ignored %d repeats", applied, repeats)
	waitFor(t, 5*time.Second, "health of every box", func() bool { return len(d.Boxes()) == 3 })
}
