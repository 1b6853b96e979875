package search

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

var base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// sample makes n events: cameras cam0..cam3, one a minute, types cycling.
func sample(n int) []events.Event {
	types := []events.Type{events.Motion, events.Motion, events.SceneChange, events.CameraOffline, events.CameraOnline}
	texts := []string{"xe máy qua cổng", "người đi bộ", "đèn bật", "mất kết nối", "đăng nhập admin"}
	out := make([]events.Event, n)
	for i := range out {
		out[i] = events.Event{
			ID: fmt.Sprintf("e%05d", i), Type: types[i%len(types)], Camera: fmt.Sprintf("cam%d", i%4),
			Household: fmt.Sprintf("hh%d", i%4), Start: base.Add(time.Duration(i) * time.Minute),
			End: base.Add(time.Duration(i)*time.Minute + 20*time.Second), Region: [4]int{1, 2, 3, 4},
			Score: float64(i%10) / 10, Text: texts[i%len(texts)],
		}
	}
	return out
}

// mustOpen opens the index at path or fails the test.
func mustOpen(t testing.TB, path string, o Options) *Index {
	t.Helper()
	x, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func openFilled(t testing.TB, n int) *Index {
	t.Helper()
	x := mustOpen(t, filepath.Join(t.TempDir(), "events.bleve"), Options{})
	t.Cleanup(func() { x.Close() })
	for _, e := range sample(n) {
		x.Publish(e)
	}
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestSearch(t *testing.T) {
	x := openFilled(t, 200)
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		q         Query
		total     uint64
		firstID   string
		pageLen   int
		camFacets map[string]uint64
	}{
		{name: "all newest first", q: Query{}, total: 200, firstID: "e00199", pageLen: 50},
		{name: "text", q: Query{Text: "cổng"}, total: 40, firstID: "e00195", pageLen: 40},
		{name: "field in query string", q: Query{Text: "+type:motion +camera:cam1"}, total: 20, firstID: "e00185", pageLen: 20},
		{name: "time range", q: Query{From: base.Add(10 * time.Minute), To: base.Add(20 * time.Minute)}, total: 10, firstID: "e00019", pageLen: 10},
		{name: "camera filter", q: Query{Cameras: []string{"cam2"}}, total: 50, firstID: "e00198", pageLen: 50,
			camFacets: map[string]uint64{"cam2": 50}},
		{name: "type filter", q: Query{Types: []events.Type{events.CameraOnline, events.CameraOffline}}, total: 80, firstID: "e00199", pageLen: 50},
		{name: "allowed restricts", q: Query{Allowed: []string{"cam0", "cam1"}}, total: 100, firstID: "e00197", pageLen: 50,
			camFacets: map[string]uint64{"cam0": 50, "cam1": 50}},
		{name: "allowed intersects filter", q: Query{Cameras: []string{"cam1", "cam3"}, Allowed: []string{"cam0", "cam1"}}, total: 50, firstID: "e00197", pageLen: 50},
		{name: "allowed none", q: Query{Allowed: []string{}}, total: 0, pageLen: 0},
		{name: "second page", q: Query{Page: 1, Size: 30}, total: 200, firstID: "e00169", pageLen: 30},
		{name: "query string cannot escape allowed", q: Query{Text: "camera:cam3", Allowed: []string{"cam0"}}, total: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := x.Search(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != tt.total || len(res.Events) != tt.pageLen {
				t.Fatalf("got total %d, page of %d; want %d, %d", res.Total, len(res.Events), tt.total, tt.pageLen)
			}
			if tt.pageLen > 0 && res.Events[0].ID != tt.firstID {
				t.Errorf("first event %s, want %s", res.Events[0].ID, tt.firstID)
			}
			for i := 1; i < len(res.Events); i++ {
				if res.Events[i].Start.After(res.Events[i-1].Start) {
					t.Fatalf("events not newest first at %d", i)
				}
			}
			if tt.camFacets != nil && !mapsEqual(res.ByCamera, tt.camFacets) {
				t.Errorf("camera facets %v, want %v", res.ByCamera, tt.camFacets)
			}
			var sum uint64
			for _, c := range res.ByType {
				sum += c
			}
			if sum != tt.total {
				t.Errorf("type facets sum to %d, want %d", sum, tt.total)
			}
		})
	}
	// The stored event comes back whole.
	res, _ := x.Search(ctx, Query{Text: "đăng nhập", Size: 1})
	want := sample(200)[199]
	if got := res.Events[0]; got.ID != want.ID || !got.Start.Equal(want.Start) || !got.End.Equal(want.End) || got.Region != want.Region || got.Household != want.Household || got.Text != want.Text {
		t.Errorf("stored event %+v, want %+v", got, want)
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRepublishReplaces(t *testing.T) {
	x := openFilled(t, 0)
	e := events.Event{ID: "m1", Type: events.Motion, Camera: "c", Start: base}
	x.Publish(e)
	e.End = base.Add(time.Minute)
	e.Text = "kết thúc"
	x.Publish(e)
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	res, err := x.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || !res.Events[0].End.Equal(e.End) {
		t.Fatalf("got %+v, want the one event, ended", res.Events)
	}
}

func TestFlushOnTimer(t *testing.T) {
	x := mustOpen(t, filepath.Join(t.TempDir(), "i"), Options{FlushEvery: 50 * time.Millisecond})
	defer x.Close()
	x.Publish(events.Event{Type: events.DiskLow, Start: base})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := x.Count(); n == 1 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("queued event not written by the timer")
}

func TestDeleteBefore(t *testing.T) {
	x := openFilled(t, 200)
	ctx := context.Background()
	n, err := x.DeleteBefore(ctx, base.Add(100*time.Minute), "cam1")
	if err != nil || n != 25 {
		t.Fatalf("DeleteBefore cam1 = %d, %v; want 25", n, err)
	}
	n, err = x.DeleteBefore(ctx, base.Add(50*time.Minute), "")
	if err != nil || n != 37 { // 50 before minute 50, minus cam1's 13 already gone
		t.Fatalf("DeleteBefore all = %d, %v; want 37", n, err)
	}
	if c, _ := x.Count(); c != 200-25-37 {
		t.Fatalf("count %d after deletes, want %d", c, 200-25-37)
	}
}

func TestReopenKeepsEvents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "i")
	x := mustOpen(t, dir, Options{})
	for _, e := range sample(30) {
		x.Publish(e)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = mustOpen(t, dir, Options{})
	defer x.Close()
	if n, _ := x.Count(); n != 30 || x.Repaired != "" {
		t.Fatalf("after reopen: %d events, repaired %q; want 30, none", n, x.Repaired)
	}
}

// TestQueryAndSearch: the page's search parameters (ParseQuery), then the
// search limited to the cameras the user may see (Allowed).
func TestQueryAndSearch(t *testing.T) {
	x := openFilled(t, 100)
	for _, tt := range []struct {
		query string
		user  string
		code  int
		total uint64
	}{
		{query: "", code: 200, total: 100},
		{query: "q=c%E1%BB%95ng&size=5", code: 200, total: 20},
		{query: "camera=cam0,cam2&type=motion", code: 200, total: 20},
		{query: "camera=cam0&camera=cam2", code: 200, total: 50},
		{query: "from=2026-11-01T00:10:00Z&to=2026-11-01T00:20:00Z", code: 200, total: 10},
		{query: fmt.Sprintf("from=%d&to=%d", base.Unix(), base.Add(5*time.Minute).Unix()), code: 200, total: 5},
		{query: "", user: "household", code: 200, total: 25},
		{query: "camera=cam0", user: "household", code: 200, total: 0},
		{query: "from=yesterday", code: 400},
		{query: "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", code: 400},
		{query: "size=0", code: 400},
		{query: "size=100000", code: 400},
		{query: "page=-1", code: 400},
		{query: "page=99999&size=500", code: 400},
		{query: "type=burglary", code: 400},
		{query: "camera=../../etc", code: 400},
		{query: "q=%22abc", code: 400},
		{query: "q=score:>abc", code: 400},
		{query: "sort=start", code: 400},
	} {
		t.Run(tt.query+tt.user, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := ParseQuery(v)
			if tt.code != 200 {
				if err == nil {
					t.Fatalf("accepted: %+v", q)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.user == "household" {
				q.Allowed = []string{"cam1"}
			}
			res, err := x.Search(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != tt.total {
				t.Errorf("total %d, want %d", res.Total, tt.total)
			}
			if tt.user == "household" {
				for _, e := range res.Events {
					if e.Camera != "cam1" {
						t.Fatalf("household saw camera %s", e.Camera)
					}
				}
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "q=xe&from=2026-11-01T00:00:00Z&to=1800000000", "camera=a,b&type=motion&page=2&size=10",
		"q=type:(", "size=0", "page=-1", "from=%zz", "camera=%00", "q=" + string(make([]byte, 2000))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			return
		}
		if q.Size < 1 || q.Size > MaxPageSize || q.Page < 0 || (q.Page+1)*q.Size > MaxResultWindow {
			t.Fatalf("accepted page %d size %d", q.Page, q.Size)
		}
		if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
			t.Fatalf("accepted empty range %v..%v", q.From, q.To)
		}
		for _, typ := range q.Types {
			if !slices.Contains(knownTypes, typ) {
				t.Fatalf("accepted type %q", typ)
			}
		}
		if _, err := q.request(); err != nil {
			t.Fatalf("parsed query %+v builds no request: %v", q, err)
		}
	})
}
