package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// randomEvents makes n events built to catch ordering and counting slips:
// many starting in the same millisecond (some in the same nanosecond),
// 120 cameras (more than the 100 of bleve's camera facet) plus events
// without a camera, and texts from a small vocabulary.
func randomEvents(rng *rand.Rand, n int) []events.Event {
	types := []events.Type{events.Motion, events.Motion, events.Motion, events.SceneChange, events.Tamper,
		events.CameraOffline, events.CameraOnline, events.DiskLow, events.DiskError, events.RetentionPurge, events.CameraOnline}
	words := []string{"xe", "máy", "người", "chó", "cổng", "sân", "đèn", "mưa", "ô tô", "đạp", "ban đêm", "hồng ngoại"}
	out := make([]events.Event, n)
	for i := range out {
		// 3 days, but starts bunch on a coarse grid of milliseconds.
		ms := rng.Int64N(3*24*3600) * 1000
		if rng.IntN(3) == 0 {
			ms = rng.Int64N(200) * 1000 // a busy stretch: many in the same ms
		}
		start := base.Add(time.Duration(ms)*time.Millisecond + time.Duration(rng.IntN(4))*250*time.Microsecond)
		cam := fmt.Sprintf("cam%03d", rng.IntN(120))
		if rng.IntN(20) == 0 {
			cam = ""
		}
		text := words[rng.IntN(len(words))]
		for range rng.IntN(3) {
			text += " " + words[rng.IntN(len(words))]
		}
		out[i] = events.Event{
			ID: fmt.Sprintf("r%05d", rng.IntN(1_000_000)), Type: types[rng.IntN(len(types))], Camera: cam,
			Household: "hh" + cam, Start: start, End: start.Add(time.Duration(rng.IntN(60)) * time.Second),
			Region: [4]int{rng.IntN(40), rng.IntN(22), 3, 4}, Score: float64(rng.IntN(100)) / 100, Text: text,
		}
	}
	return out
}

// randomQuery draws a free-text query over the events of randomEvents.
func randomQuery(rng *rand.Rand) Query {
	texts := []string{"xe", "xe máy", "người đêm", "+cổng -mưa", "chó OR đèn", "camera:cam007", "+type:motion +sân",
		"score:>0.5 người", "hồng ngoại", "\"ô tô\"", "đạ*", "mưa~1", "không có", "type:tamper type:login"}
	q := Query{Text: texts[rng.IntN(len(texts))]}
	if rng.IntN(4) != 0 {
		from := base.Add(time.Duration(rng.Int64N(3*24*3600*1000)) * time.Millisecond)
		length := time.Duration(1+rng.Int64N(2*24*3600*1000)) * time.Millisecond
		if rng.IntN(3) == 0 {
			// The busy stretch, bounds inside a millisecond that holds
			// events (sub-millisecond starts are in 250 µs steps).
			bound := func() time.Time {
				return base.Add(time.Duration(rng.IntN(200))*time.Second + []time.Duration{0, 250 * time.Microsecond,
					250*time.Microsecond + 1, 600 * time.Microsecond, time.Millisecond - 1}[rng.IntN(5)])
			}
			from = bound()
			length = bound().Sub(base) + time.Duration(rng.IntN(2))*time.Hour
		}
		q.From, q.To = from, from.Add(length)
		if rng.IntN(5) == 0 {
			q.From = time.Time{}
		} else if rng.IntN(5) == 0 {
			q.To = time.Time{}
		}
	}
	cam := func() string { return fmt.Sprintf("cam%03d", rng.IntN(120)) }
	switch rng.IntN(4) {
	case 0:
		q.Cameras = []string{cam(), cam()}
	case 1:
		q.Allowed = []string{cam(), cam(), cam()}
		if rng.IntN(2) == 0 {
			q.Cameras = []string{q.Allowed[0], cam()}
		}
	}
	if rng.IntN(3) == 0 {
		q.Types = []events.Type{events.Motion, events.Tamper}[:1+rng.IntN(2)]
	}
	q.Size = []int{0, 1, 7, 50, 500}[rng.IntN(5)]
	if q.Size > 0 {
		q.Page = rng.IntN(2000 / q.Size)
	} else {
		q.Page = rng.IntN(40)
	}
	return q
}

// sameAnswer fails the test unless two results agree in everything but
// the time they took.
func sameAnswer(t *testing.T, what string, got, want *Result) {
	t.Helper()
	g, w := *got, *want
	g.Took, w.Took = 0, 0
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) == string(wj) {
		return
	}
	ids := func(r *Result) []string {
		var s []string
		for _, e := range r.Events {
			s = append(s, e.ID+"@"+e.Start.Format("15:04:05.000000"))
		}
		return s
	}
	t.Fatalf("%s: the timeline's answer differs from bleve's\n got total %d cams %v types %v\n    %v\nwant total %d cams %v types %v\n    %v",
		what, got.Total, got.ByCamera, got.ByType, ids(got), want.Total, want.ByCamera, want.ByType, ids(want))
}

// TestTextSearchMatchesBleve checks the free-text path (bleve matches,
// timeline orders and counts) against the plain bleve request, which sorts
// and facets itself: same hits, order, total and facets.
func TestTextSearchMatchesBleve(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	x := mustOpen(t, filepath.Join(t.TempDir(), "events.bleve"), Options{BatchSize: 500})
	defer x.Close()
	evs := randomEvents(rng, 4000)
	// Several events at the very same nanosecond, where only the ID orders.
	for i := range 10 {
		evs[i].Start, evs[i].Text = base.Add(90*time.Second), "cổng xe"
	}
	for _, e := range evs {
		x.Publish(e)
	}
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	// Republished events (a motion event ending) and a retention purge.
	for _, e := range evs[:300] {
		e.Text += " kết thúc"
		e.Start = e.Start.Add(time.Duration(rng.IntN(3)) * time.Millisecond)
		x.Publish(e)
	}
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.DeleteBefore(context.Background(), base.Add(20*time.Second), ""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(name string, q Query) {
		t.Helper()
		want, werr := x.searchBleve(ctx, q)
		got, gerr := x.searchText(ctx, q)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: error %v, bleve's %v", name, gerr, werr)
		}
		if werr == nil {
			sameAnswer(t, fmt.Sprintf("%s %+v", name, q), got, want)
		}
	}
	for _, tt := range []struct {
		name string
		q    Query
	}{
		{"all with a word", Query{Text: "xe", Size: 500}},
		{"same nanosecond, by ID", Query{Text: "cổng xe", From: base.Add(90 * time.Second), To: base.Add(91 * time.Second)}},
		{"page across a millisecond", Query{Text: "xe", From: base, To: base.Add(200 * time.Second), Page: 3, Size: 7}},
		{"more than 100 cameras in the facet", Query{Text: "xe OR người OR cổng OR sân", Size: 1}},
		{"past the last page", Query{Text: "chó", Page: 900, Size: 100}},
		{"nothing matches", Query{Text: "không-có-từ-này"}},
		{"allowed none", Query{Text: "xe", Allowed: []string{}}},
		{"field in the text", Query{Text: "+type:motion camera:cam001"}},
		{"to only", Query{Text: "đèn", To: base.Add(24 * time.Hour)}},
		{"from only", Query{Text: "đèn", From: base.Add(48 * time.Hour)}},
	} {
		check(tt.name, tt.q)
	}
	for i := range 400 {
		check(fmt.Sprintf("random %d", i), randomQuery(rng))
	}
	// Some answers must be non-trivial, or the comparison proves little.
	res, err := x.searchText(ctx, Query{Text: "xe OR người OR cổng OR sân", Size: 1})
	if err != nil || res.Total < 1000 || len(res.ByCamera) != cameraFacetSize {
		t.Fatalf("broad query: %v, total %d, %d cameras in the facet", err, res.Total, len(res.ByCamera))
	}
}

// TestTextSearchFallsBack checks that a match the timeline lacks sends the
// query to bleve instead of losing it.
func TestTextSearchFallsBack(t *testing.T) {
	x := openFilled(t, 50)
	x.tl.mu.Lock()
	gone := x.tl.ids[len(x.tl.ids)-1]
	x.tl.remove(len(x.tl.ids) - 1)
	x.tl.mu.Unlock()
	res, err := x.Search(context.Background(), Query{Text: "xe OR người OR đèn OR kết OR đăng"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 50 || !slices.ContainsFunc(res.Events, func(e events.Event) bool { return e.ID == gone }) {
		t.Fatalf("got %d events, want 50 with %s", res.Total, gone)
	}
}
