package storage_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/faultfs"
	"github.com/matthan/matthan/daemon/storage"
)

// TestRetentionDecision: one segment of a given age, with or without an
// event, under a camera's retention and the store's: kept or deleted by
// one retention pass (plenty of free space: age alone decides).
func TestRetentionDecision(t *testing.T) {
	const day = 24 * time.Hour
	now := diskT0.Add(100 * day)
	for _, tt := range []struct {
		name   string
		global int               // Options.RetentionDays
		cam    storage.Retention // the camera's
		age    time.Duration     // how long ago the segment ended
		event  bool
		kept   bool
	}{
		{"global keeps young", 30, storage.Retention{}, 29 * day, false, true},
		{"global deletes old", 30, storage.Retention{}, 31 * day, false, false},
		{"no retention at all keeps everything", 0, storage.Retention{}, 99 * day, false, true},
		{"camera's days win over global (shorter)", 30, storage.Retention{Days: 2}, 3 * day, false, false},
		{"camera's days win over global (longer)", 30, storage.Retention{Days: 60}, 40 * day, false, true},
		{"camera's days without global", 0, storage.Retention{Days: 5}, 6 * day, false, false},
		{"mixed: plain video past N goes", 30, storage.Retention{Days: 2, EventDays: 7}, 3 * day, false, false},
		{"mixed: event video past N stays", 30, storage.Retention{Days: 2, EventDays: 7}, 3 * day, true, true},
		{"mixed: event video past M goes", 30, storage.Retention{Days: 2, EventDays: 7}, 8 * day, true, false},
		{"mixed on the global days", 2, storage.Retention{EventDays: 7}, 5 * day, true, true},
		{"event days not above days: ignored", 30, storage.Retention{Days: 7, EventDays: 3}, 5 * day, true, true},
		{"event days not above days: days apply", 30, storage.Retention{Days: 4, EventDays: 3}, 5 * day, true, false},
		{"young event video stays", 30, storage.Retention{Days: 2, EventDays: 7}, day, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := storage.Open(context.Background(), t.TempDir(), storage.Options{
				RetentionDays: tt.global, MinFreeBytes: 1, RetentionInterval: time.Hour, Logf: t.Logf,
				Now: func() time.Time { return now },
				Retention: func(cam string) storage.Retention {
					if cam == "cam" {
						return tt.cam
					}
					return storage.Retention{}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := now.Add(-tt.age - time.Second)
			writeSeg(t, s, "cam", start, 1000)
			writeSeg(t, s, "cam", now.Add(-time.Minute), 1000) // the newest one is never in question
			if tt.event {
				if err := s.MarkEvent("cam", start.Add(100*time.Millisecond), start.Add(200*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.RunRetention(); err != nil {
				t.Fatal(err)
			}
			segs := s.Segments("cam", time.Time{}, time.Time{})
			kept := len(segs) == 2
			if kept != tt.kept {
				t.Errorf("kept %v, want %v (%d segments left)", kept, tt.kept, len(segs))
			}
			if kept && segs[0].Event != tt.event {
				t.Errorf("segment marked %v, want %v", segs[0].Event, tt.event)
			}
		})
	}
}

// TestFloorDeletesPlainVideoFirst records real segment files of two
// cameras onto a small simulated disk (faultfs quota over a real folder):
// the oldest segments of each hold events. When the free-space floor is
// reached, every segment without an event goes (the newest ones
// included) before the first one with an event; the marks survive a
// restart, and after it the same order holds.
func TestFloorDeletesPlainVideoFirst(t *testing.T) {
	dir := t.TempDir()
	ffs := faultfs.New(nil)
	ffs.Quota = 8 << 20
	open := func() *storage.Store {
		s, err := storage.Open(context.Background(), dir, storage.Options{FS: ffs, MinFreeBytes: 2 << 20, RetentionInterval: time.Hour, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	// 2 cameras × 8 segments of 200 KB: 3.2 MB of 6 MB above the floor.
	var marked []storage.Segment
	for i := range 8 {
		for _, cam := range []string{"a", "b"} {
			at := diskT0.Add(time.Duration(i) * time.Minute)
			seg := writeSeg(t, s, cam, at, 200<<10)
			if i < 2 {
				if err := s.MarkEvent(cam, at, at.Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				marked = append(marked, seg)
			}
		}
	}
	check := func(s *storage.Store, when string) {
		t.Helper()
		for _, cam := range []string{"a", "b"} {
			segs := s.Segments(cam, time.Time{}, time.Time{})
			ev := 0
			for _, g := range segs {
				if g.Event {
					ev++
				}
			}
			// Plain segments left while event segments were deleted:
			// the order was wrong. (The newest segment is recorded to.)
			if ev < 2 && len(segs)-ev > 1 {
				t.Errorf("%s: camera %s keeps %d plain segments but lost %d of its 2 event segments", when, cam, len(segs)-ev, 2-ev)
			}
		}
	}
	// Another 16 segments: the floor is reached twice over.
	for i := 8; i < 24; i++ {
		for _, cam := range []string{"a", "b"} {
			writeSeg(t, s, cam, diskT0.Add(time.Duration(i)*time.Minute), 200<<10)
			if avail, _, _ := ffs.Statfs(""); avail < 2<<20-300<<10 {
				t.Fatalf("free %d bytes: below the floor by more than a segment", avail)
			}
			check(s, "recording")
		}
	}
	for _, m := range marked {
		if got := s.Segments(m.Camera, m.Start, m.Start.Add(time.Millisecond)); len(got) != 1 || !got[0].Event {
			t.Errorf("event segment %s %v deleted before plain video (%v)", m.Camera, m.Start, got)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	for _, m := range marked {
		if got := s.Segments(m.Camera, m.Start, m.Start.Add(time.Millisecond)); len(got) != 1 || !got[0].Event {
			t.Fatalf("after a restart: event segment %s %v has lost its mark (%v)", m.Camera, m.Start, got)
		}
	}
	// Keep filling: the marks read back from the journal still decide.
	for i := 24; i < 40; i++ {
		for _, cam := range []string{"a", "b"} {
			writeSeg(t, s, cam, diskT0.Add(time.Duration(i)*time.Minute), 200<<10)
			check(s, "after the restart")
		}
	}
}

// durableLines feeds a faultfs Report into a Durable tracker, line by line.
type durableLines struct {
	d    *faultfs.Durable
	rest []byte
}

func (w *durableLines) Write(p []byte) (int, error) {
	w.rest = append(w.rest, p...)
	for {
		i := bytes.IndexByte(w.rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.d.Line(string(w.rest[:i]))
		w.rest = w.rest[i+1:]
	}
}

// TestMarksSurvivePowerCut: a mark is durable when MarkEvent returns. The
// files are cut back to what was fsynced (and files whose folder was never
// fsynced vanish), as a power cut would leave them, without closing the
// store; the store opened again knows every mark, including the one on the
// segment that was being recorded and the one made as a segment started.
func TestMarksSurvivePowerCut(t *testing.T) {
	dir := t.TempDir()
	durable := faultfs.NewDurable()
	ffs := faultfs.New(nil)
	ffs.Report = &durableLines{d: durable}
	s, err := storage.Open(context.Background(), dir, storage.Options{FS: ffs, MinFreeBytes: 1, RetentionInterval: time.Hour, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	writeSeg(t, s, "cam", diskT0, 1000)
	ev := writeSeg(t, s, "cam", diskT0.Add(time.Minute), 1000)
	if err := s.MarkEvent("cam", ev.Start.Add(100*time.Millisecond), ev.Start.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	next := writeSeg(t, s, "cam", diskT0.Add(80*time.Second), 1000) // starts within the event's span
	last := writeSeg(t, s, "cam", diskT0.Add(3*time.Minute), 1000)
	// The last thing written before the power cut: nothing fsyncs the
	// journal after it but MarkEvent itself.
	if err := s.MarkEvent("cam", last.Start.Add(time.Millisecond), last.Start.Add(2*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := durable.PowerCut(); err != nil {
		t.Fatal(err)
	}
	again, err := storage.Open(context.Background(), dir, storage.Options{MinFreeBytes: 1, RetentionInterval: time.Hour, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var marked []time.Time
	for _, g := range again.Segments("cam", time.Time{}, time.Time{}) {
		if g.Event {
			marked = append(marked, g.Start)
		}
	}
	if len(marked) != 3 || !marked[0].Equal(ev.Start) || !marked[1].Equal(next.Start) || !marked[2].Equal(last.Start) {
		t.Errorf("after a power cut the marked segments start at %v, want %v, %v and %v", marked, ev.Start, next.Start, last.Start)
	}
}
