package storage

import (
	"testing"
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
		segs, open, _ := replay(recs)
		for i := 1; i < len(segs); i++ {
			if segs[i].start <= segs[i-1].start {
				t.Fatalf("segments out of order: %v", segs)
			}
		}
		_ = open
	})
}
