package storage

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/fmp4"
)

// FuzzJournal: parseJournal and replay never panic, and a valid prefix is
// exactly what the parser keeps.
func FuzzJournal(f *testing.F) {
	var b []byte
	b = append(b, journalMagic...)
	b = record{kind: recOpen, start: 1e18}.append(b)
	b = record{kind: recClose, start: 1e18, end: 1e18 + 6e10, size: 1 << 20}.append(b)
	b = record{kind: recDelete, start: 1e18}.append(b)
	f.Add(b)
	f.Add(b[:len(b)-7])
	f.Add([]byte(journalMagic[:10]))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, valid, _, err := parseJournal(data)
		if err != nil {
			return
		}
		if valid > len(data) || valid%recordSize != 0 && valid != 0 {
			t.Fatalf("valid prefix %d of %d", valid, len(data))
		}
		segs, open, deleted, _ := replay(recs)
		for i := 1; i < len(segs); i++ {
			if segs[i].start <= segs[i-1].start {
				t.Fatalf("segments out of order: %v", segs)
			}
		}
		checkReplay(t, recs, segs, open, deleted)
	})
}

// FuzzRepair: whatever bytes a power cut leaves in a segment that was being
// written, start-up repair never panics and leaves either no segment or a
// segment whose whole file scans as complete fragments and whose index row
// matches it.
func FuzzRepair(f *testing.F) {
	init := testInit(f)
	whole := append(append([]byte(nil), init...), fragment(1, 0, 5)...)
	whole = append(whole, fragment(2, 5*3600, 5)...)
	f.Add(whole[len(init):])
	f.Add(whole[len(init) : len(whole)-9])
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x10moof\x00\x00\x00\x08mdat"))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		s, err := Open(context.Background(), dir, Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.Create("cam", t0, init)
		if err != nil {
			t.Fatal(err)
		}
		s.Close() // the crash: no close record
		w.f.Close()
		if err := os.WriteFile(w.path, append(append([]byte(nil), init...), tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err = Open(context.Background(), dir, Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		segs := s.Segments("cam", time.Time{}, time.Time{})
		fi, statErr := os.Stat(w.path)
		switch {
		case len(segs) == 0:
			if statErr == nil {
				t.Fatalf("segment dropped but its file is still there")
			}
		case len(segs) == 1:
			if statErr != nil || fi.Size() != segs[0].Bytes {
				t.Fatalf("row %+v, file %v %v", segs[0], fi, statErr)
			}
			file, _ := os.Open(w.path)
			l, err := fmp4.ScanSegment(file, fi.Size())
			file.Close()
			if err != nil || l.ValidSize != fi.Size() || len(l.Fragments) == 0 {
				t.Fatalf("kept a segment that does not scan whole: %v, %d of %d", err, l.ValidSize, fi.Size())
			}
		default:
			t.Fatalf("segments %+v", segs)
		}
	})
}

// checkReplay compares replay's result with the plainest model: a map.
func checkReplay(t *testing.T, recs []record, segs []entry, open, deleted []int64) {
	t.Helper()
	live, isOpen := map[int64]bool{}, map[int64]bool{}
	for _, r := range recs {
		switch r.kind {
		case recOpen:
			live[r.start], isOpen[r.start] = true, true
		case recClose:
			live[r.start] = true
			delete(isOpen, r.start)
		case recDelete:
			delete(live, r.start)
			delete(isOpen, r.start)
		}
	}
	if len(segs) != len(live) || len(open) != len(isOpen) {
		t.Fatalf("replay: %d live, %d open; model: %d live, %d open", len(segs), len(open), len(live), len(isOpen))
	}
	for _, e := range segs {
		if !live[e.start] {
			t.Fatalf("replay keeps %d, which the model deleted", e.start)
		}
	}
	for _, d := range deleted {
		if live[d] {
			t.Fatalf("replay would unlink live segment %d", d)
		}
	}
}

// FuzzReplay: sequences of open/close/delete/event records over a few names (so
// that names are reused and deletes scatter) replay like the map model.
func FuzzReplay(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 2, 1, 0, 1, 2, 1, 0, 2, 1, 2, 0, 3, 2, 2, 2, 3})
	f.Add([]byte{0, 1, 3, 1, 1, 1, 0, 2, 3, 2, 2, 2, 3, 5, 0, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var recs []record
		for i := 0; i+1 < len(ops); i += 2 {
			kind := []byte{recOpen, recClose, recDelete, recEvent}[ops[i]%4]
			st := int64(ops[i+1] % 32)
			recs = append(recs, record{kind: kind, start: st, end: st + 1})
		}
		segs, open, deleted, marked := replay(recs)
		checkReplay(t, recs, segs, open, deleted)
		// Marks: set by an event record, cleared when the name is opened
		// again or deleted.
		model := map[int64]bool{}
		for _, r := range recs {
			switch r.kind {
			case recEvent:
				model[r.start] = true
			case recOpen, recDelete:
				delete(model, r.start)
			}
		}
		if len(model) != len(marked) {
			t.Fatalf("replay marks %v, model %v", marked, model)
		}
		for st := range model {
			if !marked[st] {
				t.Fatalf("replay lost the mark of %d", st)
			}
		}
	})
}
