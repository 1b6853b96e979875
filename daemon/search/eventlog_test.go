package search

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// FuzzEventLog: any bytes as the event log (a card after a power cut)
// open without panic, give only whole, checksummed records, and the log
// then takes appends that read back.
func FuzzEventLog(f *testing.F) {
	var good []byte
	good = append(good, logHeader(5)...)
	for _, e := range sample(3) {
		good, _ = encodeRecord(good, &e)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:logHdrSize])
	f.Add(good[:5])
	f.Add([]byte{})
	bad := bytes.Clone(good)
	bad[len(bad)-2] ^= 0xff
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "events.log")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var seen []int64
		l, err := openEventLog(p, func(off int64, e events.Event) { seen = append(seen, off) })
		if err != nil {
			return // not an event log: refused, kept as it is
		}
		defer l.close()
		for _, off := range seen {
			if _, err := l.read(off); err != nil {
				t.Fatalf("record at %d was reported but does not read back: %v", off, err)
			}
		}
		e := events.Event{ID: "new", Type: events.Login, Start: time.Unix(1, 0)}
		offs, err := l.append([]events.Event{e})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := l.read(offs[0]); err != nil || got.ID != "new" {
			t.Fatalf("append after open: %+v, %v", got, err)
		}
		n := 0
		l2, err := openEventLog(p, func(int64, events.Event) { n++ })
		if err != nil {
			t.Fatal(err)
		}
		l2.close()
		if n != len(seen)+1 {
			t.Fatalf("reopened: %d records, want %d", n, len(seen)+1)
		}
	})
}
