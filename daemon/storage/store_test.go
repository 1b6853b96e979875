package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
)

var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// A tiny but well-formed H.264 stream description (the SPS of a 64x64
// baseline picture) for structural tests; the samples are not real video.
var testStream = media.Stream{
	Codec: media.H264,
	SPS:   []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60},
	PPS:   []byte{0x68, 0xce, 0x3c, 0x80},
	Width: 64, Height: 64,
}

func testInit(t testing.TB) []byte {
	b, err := fmp4.InitSegment(testStream)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fragment returns one fragment of n 40 ms samples starting at tick base.
func fragment(seq uint32, base uint64, n int) []byte {
	var b fmp4.FragmentBuilder
	for i := range n {
		b.AddNALUs(media.H264, [][]byte{{0x65, 0x88, byte(i), 1, 2, 3}}, fmp4.Sample{Duration: 3600, Key: i == 0})
	}
	return append([]byte(nil), b.Encode(seq, base)...)
}

func openTest(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = 1
	}
	s, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // Close may be called twice
	return s
}

// record writes a segment of frags one-second fragments.
func recordSegment(t *testing.T, s *Store, cam string, start time.Time, frags int, close bool) *SegmentWriter {
	t.Helper()
	w, err := s.Create(cam, start, testInit(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range frags {
		if err := w.Append(fragment(uint32(i+1), uint64(i)*90000, 25), w.Start().Add(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if close {
		if err := w.Close(w.Start().Add(time.Duration(frags) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func TestSegmentsQuery(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	// Ten 10 s segments with a 5 s gap between them.
	for i := range 10 {
		recordSegment(t, s, "cam", t0.Add(time.Duration(i)*15*time.Second), 10, true)
	}
	check := func(s *Store) {
		t.Helper()
		for _, tt := range []struct {
			from, to time.Duration
			want     []int
		}{
			{0, 1 * time.Second, []int{0}},
			{9 * time.Second, 16 * time.Second, []int{0, 1}},
			{10 * time.Second, 15 * time.Second, nil}, // in the gap
			{10 * time.Second, 15*time.Second + 1, []int{1}},
			{-time.Hour, 0, nil},
			{140 * time.Second, time.Hour, []int{9}},
			{150 * time.Second, time.Hour, nil},
			{0, 1000 * time.Second, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		} {
			got := s.Segments("cam", t0.Add(tt.from), t0.Add(tt.to))
			var idx []int
			for _, g := range got {
				idx = append(idx, int(g.Start.Sub(t0)/(15*time.Second)))
				if g.End.Sub(g.Start) != 10*time.Second || g.Camera != "cam" {
					t.Errorf("segment %+v", g)
				}
			}
			if len(idx) != len(tt.want) || len(idx) > 0 && (idx[0] != tt.want[0] || idx[len(idx)-1] != tt.want[len(tt.want)-1]) {
				t.Errorf("Segments(%v, %v) = %v, want %v", tt.from, tt.to, idx, tt.want)
			}
		}
	}
	check(s)
	s.Close()
	s = openTest(t, dir, Options{})
	defer s.Close()
	check(s)
	if got := s.Cameras(); len(got) != 1 || got[0] != "cam" {
		t.Errorf("Cameras() = %v", got)
	}
}

func TestRepairAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	recordSegment(t, s, "cam", t0, 5, true)
	// A segment cut mid-fragment: 3 whole fragments and half of a fourth.
	torn := recordSegment(t, s, "cam", t0.Add(5*time.Second), 3, false)
	half := fragment(4, 3*90000, 25)
	torn.f.Write(half[:len(half)/2])
	// A segment whose file vanished (its creation never reached the disk).
	recordSegment(t, s, "other", t0, 2, true)
	gone := recordSegment(t, s, "other", t0.Add(2*time.Second), 1, false)
	// A segment with nothing but its init segment.
	empty := recordSegment(t, s, "third", t0, 0, false)
	s.Close()
	os.Remove(gone.path)
	// A stray file the index does not know, and a torn journal record.
	stray := filepath.Join(dir, "recordings", "cam", t0.Format("2006-01-02"), "20261120T090000.000Z.mp4")
	os.WriteFile(stray, []byte("junk"), 0o644)
	jf, _ := os.OpenFile(filepath.Join(dir, "recordings", "cam", journalName), os.O_APPEND|os.O_WRONLY, 0)
	jf.Write([]byte("torn record"))
	jf.Close()

	s = openTest(t, dir, Options{})
	defer s.Close()
	segs := s.Segments("cam", time.Time{}, time.Time{})
	if len(segs) != 2 || segs[1].End.Sub(segs[1].Start) != 3*time.Second {
		t.Fatalf("cam segments after repair: %+v", segs)
	}
	fi, err := os.Stat(torn.path)
	if err != nil || fi.Size() != segs[1].Bytes {
		t.Errorf("torn segment: %v bytes on disk (%v), index %d", fi.Size(), err, segs[1].Bytes)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("stray file still there: %v", err)
	}
	if segs := s.Segments("other", time.Time{}, time.Time{}); len(segs) != 1 {
		t.Errorf("other: %+v, want the one closed segment", segs)
	}
	if segs := s.Segments("third", time.Time{}, time.Time{}); len(segs) != 0 {
		t.Errorf("third: %+v, want none", segs)
	}
	if _, err := os.Stat(empty.path); !os.IsNotExist(err) {
		t.Errorf("segment without fragments still on disk: %v", err)
	}
	// Repair is idempotent: a second start changes nothing.
	s.Close()
	s = openTest(t, dir, Options{})
	if got := s.Segments("cam", time.Time{}, time.Time{}); len(got) != 2 || got[1] != segs[1] {
		t.Errorf("second start: %+v", got)
	}
}

func TestRetentionAgeAndCompaction(t *testing.T) {
	dir := t.TempDir()
	now := t0.Add(10 * 24 * time.Hour)
	s := openTest(t, dir, Options{RetentionDays: 3, Now: func() time.Time { return now }, RetentionInterval: time.Hour})
	defer func(v int) { compactSlack = v }(compactSlack)
	compactSlack = 50
	// 400 one-second segments spread over 8 days.
	const total = 400
	step := 8 * 24 * time.Hour / total
	for i := range total {
		recordSegment(t, s, "cam", t0.Add(2*24*time.Hour+time.Duration(i)*step), 1, true)
	}
	n := 0
	for {
		k, err := s.RunRetention()
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
		n += k
	}
	left := s.Segments("cam", time.Time{}, time.Time{})
	cutoff := now.Add(-3 * 24 * time.Hour)
	if len(left) == 0 || left[0].End.Before(cutoff) || left[0].Start.After(cutoff.Add(step)) || n+len(left) != total {
		t.Fatalf("deleted %d, left %d starting %v; cutoff %v", n, len(left), left[0].Start, cutoff)
	}
	c := s.cams["cam"]
	if needsCompaction(c) || c.jrecords != len(left) {
		t.Errorf("journal holds %d records for %d segments: not compacted", c.jrecords, len(left))
	}
	s.Close()
	s = openTest(t, dir, Options{RetentionDays: 3, Now: func() time.Time { return now }, RetentionInterval: time.Hour})
	defer s.Close()
	again := s.Segments("cam", time.Time{}, time.Time{})
	if len(again) != len(left) || again[0] != left[0] || again[len(again)-1] != left[len(left)-1] {
		t.Errorf("after reopening: %d segments, want %d", len(again), len(left))
	}
	// Files of deleted segments are gone, and so are their empty day folders.
	days, _ := os.ReadDir(filepath.Join(dir, "recordings", "cam"))
	for _, d := range days {
		if d.IsDir() && d.Name() < cutoff.Add(-24*time.Hour).Format("2006-01-02") {
			t.Errorf("day folder %s left behind", d.Name())
		}
	}
}

// TestReplayDeletes: deletes scattered among many segments, names reused
// after a delete.
func TestReplayDeletes(t *testing.T) {
	var recs []record
	live := map[int64]bool{}
	for i := range int64(200) {
		recs = append(recs, record{kind: recOpen, start: i}, record{kind: recClose, start: i, end: i + 1, size: 1})
		live[i] = true
	}
	for _, i := range []int64{0, 3, 50, 51, 52, 120, 199} {
		recs = append(recs, record{kind: recDelete, start: i})
		delete(live, i)
	}
	// A name used again after its delete, and deleted again, and again used.
	recs = append(recs, record{kind: recOpen, start: 3}, record{kind: recDelete, start: 3},
		record{kind: recOpen, start: 50}, record{kind: recClose, start: 50, end: 51, size: 1})
	live[50] = true
	segs, open, deleted, _ := replay(recs)
	if len(open) != 0 {
		t.Errorf("open %v", open)
	}
	if len(segs) != len(live) {
		t.Errorf("%d live segments, want %d", len(segs), len(live))
	}
	for i, e := range segs {
		if !live[e.start] || i > 0 && segs[i-1].start >= e.start {
			t.Errorf("segment %d: start %d", i, e.start)
		}
	}
	for _, d := range deleted {
		if live[d] {
			t.Errorf("live segment %d would be unlinked", d)
		}
	}
}
