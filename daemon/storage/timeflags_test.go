package storage

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// fakeTime is the box clock's trust as the store sees it.
type fakeTime struct {
	mu     sync.Mutex
	synced bool
	steps  uint64
}

func (f *fakeTime) state() (bool, uint64) { f.mu.Lock(); defer f.mu.Unlock(); return f.synced, f.steps }
func (f *fakeTime) set(synced bool, steps uint64) {
	f.mu.Lock()
	f.synced, f.steps = synced, steps
	f.mu.Unlock()
}

// Segments recorded while the clock is unsynchronised, or open across a
// step, say so; the marks survive a restart (journal replay), a crash
// (repair of an open segment) and a compaction, and old journals without
// them still load (every other test of this package reads such records).
func TestSegmentTimeFlags(t *testing.T) {
	dir := t.TempDir()
	ft := &fakeTime{}
	s := openTest(t, dir, Options{TimeState: ft.state})
	want := map[time.Time][2]bool{}

	// Unsynchronised from the start (the box restored its time from disk).
	recordSegment(t, s, "cam1", t0, 2, true)
	want[t0] = [2]bool{true, false}

	// Open while unsynchronised; the first sync steps the clock.
	w := recordSegment(t, s, "cam1", t0.Add(time.Minute), 1, false)
	ft.set(true, 1)
	if err := w.Append(fragment(9, 90000, 25), w.Start().Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(w.Start().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	want[t0.Add(time.Minute)] = [2]bool{true, true}

	// Synchronised throughout.
	recordSegment(t, s, "cam1", t0.Add(2*time.Minute), 2, true)
	want[t0.Add(2*time.Minute)] = [2]bool{false, false}

	// Synchronised at the open, stepped (an officer's confirmed setting),
	// then a power cut: never closed.
	w = recordSegment(t, s, "cam1", t0.Add(3*time.Minute), 1, false)
	ft.set(true, 2)
	if err := w.Append(fragment(9, 90000, 25), w.Start().Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	want[t0.Add(3*time.Minute)] = [2]bool{false, true}

	check := func(s *Store, when string, crashed bool) {
		t.Helper()
		segs := s.Segments("cam1", time.Time{}, time.Time{})
		if len(segs) != len(want) {
			t.Fatalf("%s: %d segments, want %d", when, len(segs), len(want))
		}
		for _, g := range segs {
			w := want[g.Start]
			if crashed && g.Start.Equal(t0.Add(3*time.Minute)) {
				w[1] = false // the step after the open record is lost with the close record
			}
			if g.ClockUnsynced != w[0] || g.ClockStepped != w[1] {
				t.Errorf("%s: segment %s unsynced=%v stepped=%v, want %v %v", when, g.Start.Format(time.TimeOnly), g.ClockUnsynced, g.ClockStepped, w[0], w[1])
			}
		}
	}
	check(s, "live", false)
	s.Close() // w stays open: its close record is never written

	s2 := openTest(t, dir, Options{TimeState: ft.state})
	check(s2, "after a crash and restart", true)
	c, _ := s2.camera("cam1")
	if err := s2.compact(c); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	s3 := openTest(t, dir, Options{})
	check(s3, "after a compaction", true)
}

func TestRecordFlagsRoundTrip(t *testing.T) {
	r := record{kind: recClose, flags: ClockUnsynced | ClockStepped, start: 1, end: 2, size: 3}
	got, ok := decodeRecord(r.append(nil))
	if !ok || got != r {
		t.Errorf("decode(encode(%+v)) = %+v %v", r, got, ok)
	}
}

// An export states which part of it was recorded with an unsynchronised
// clock.
func TestExportClockUnsynced(t *testing.T) {
	ft := &fakeTime{}
	s := openTest(t, t.TempDir(), Options{TimeState: ft.state})
	recordSegment(t, s, "cam1", t0, 3, true)
	ft.set(true, 1)
	recordSegment(t, s, "cam1", t0.Add(3*time.Second), 3, true)
	info, err := Export(context.Background(), io.Discard, s, "cam1", t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.ClockUnsynced) != 1 || !info.ClockUnsynced[0].From.Equal(t0) || !info.ClockUnsynced[0].To.Equal(t0.Add(3*time.Second)) {
		t.Errorf("clock unsynced %v, want [%v, +3s)", info.ClockUnsynced, t0)
	}
	info, err = Export(context.Background(), io.Discard, s, "cam1", t0.Add(4*time.Second), t0.Add(time.Minute))
	if err != nil || info.ClockUnsynced != nil {
		t.Errorf("export of the synchronised part: %v %v", info.ClockUnsynced, err)
	}
}
