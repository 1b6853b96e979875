package search

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		e := events.Event{ID: "new", Type: events.CameraOnline, Start: time.Unix(1, 0)}
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

// oldRewrite is the rewrite of versions before the fix, kept to make the
// files it left: it took the log's name from l.f.Name(), which after the
// first rewrite is the temporary name, so each rewrite renamed the new log
// to one more ".new" and the next start read the old events.log.
func oldRewrite(l *eventLog, keep func(e events.Event) bool) error {
	path := l.f.Name()
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	gen := newGen()
	var b []byte
	b = append(b, logHeader(gen)...)
	if err := l.scan(logHdrSize, func(_ int64, e events.Event) error {
		if keep(e) {
			b, _ = encodeRecord(b, &e)
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	f.Sync()
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	l.f.Close()
	l.f, l.gen, l.end = f, gen, int64(len(b))
	return nil
}

func ev(id string, min int, text string) events.Event {
	return events.Event{ID: id, Type: events.Motion, Camera: "cam1", Start: base.Add(time.Duration(min) * time.Minute), Text: text}
}

// TestStrayLogsOfOldVersionsRecovered is finding 9: the files the old
// rewrite left (events.log.new, events.log.new.new) hold the newest
// events, and a restart read the old events.log and lost them.
func TestStrayLogsOfOldVersionsRecovered(t *testing.T) {
	dir := t.TempDir()
	ix := filepath.Join(dir, "events")
	l, err := openEventLog(ix+".log", func(int64, events.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ []int64, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.append([]events.Event{ev("a1", 1, "cũ"), ev("a2", 2, "cũ"), ev("a3", 3, "cũ")}))
	if err := oldRewrite(l, func(e events.Event) bool { return e.ID != "a1" }); err != nil { // retention
		t.Fatal(err)
	}
	must(l.append([]events.Event{ev("b1", 4, "giữa"), ev("a3", 3, "cũ đã kết thúc")})) // a3 republished
	if err := oldRewrite(l, func(e events.Event) bool { return e.ID != "a2" }); err != nil {
		t.Fatal(err)
	}
	must(l.append([]events.Event{ev("c1", 5, "mới"), ev("c2", 6, "mới nhất")}))
	if err := oldRewrite(l, func(events.Event) bool { return true }); err != nil {
		t.Fatal(err)
	}
	must(l.append([]events.Event{ev("d1", 7, "sau cùng")}))
	l.close()
	strays, _ := strayNames(ix + ".log")
	if len(strays) != 2 {
		t.Fatalf("fixture: %d stray files, want 2 (events.log.new, events.log.new.new)", len(strays))
	}

	x := mustOpen(t, ix, Options{Logf: t.Logf})
	defer x.Close()
	res, err := x.Search(t.Context(), Query{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range res.Events {
		got[e.ID] = e.Text
	}
	for _, id := range []string{"b1", "c1", "c2", "d1"} {
		if _, ok := got[id]; !ok {
			t.Errorf("event %s of a newer log file lost at restart (have %v)", id, got)
		}
	}
	if got["a3"] != "cũ đã kết thúc" {
		t.Errorf("republished event a3: %q, want the newest version", got["a3"])
	}
	if res, err := x.Search(t.Context(), Query{Text: "cùng", Size: 10}); err != nil || res.Total != 1 {
		t.Errorf("text search after recovery: %+v, %v", res, err)
	}
	if strays, _ := strayNames(ix + ".log"); len(strays) != 0 {
		t.Errorf("stray files left: %v", strays)
	}
}

// TestRewriteKeepsTheLogName: after several retention rewrites the log is
// still events.log, no temporary file is left, and a restart has every
// event that was kept or added.
func TestRewriteKeepsTheLogName(t *testing.T) {
	dir := t.TempDir()
	ix := filepath.Join(dir, "events")
	x := mustOpen(t, ix, Options{Logf: t.Logf})
	for round := range 4 {
		for i := range 10 {
			x.Publish(ev(fmt.Sprintf("r%d-%d", round, i), round*10+i, "vòng"))
		}
		if err := x.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := x.DeleteBefore(t.Context(), base.Add(time.Duration(round*10+2)*time.Minute), ""); err != nil {
			t.Fatal(err)
		}
	}
	x.Publish(ev("last", 100, "cuối"))
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if strings.Contains(e.Name(), ".new") || strings.Contains(e.Name(), ".rewrite") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	x = mustOpen(t, ix, Options{Logf: t.Logf})
	defer x.Close()
	res, err := x.Search(t.Context(), Query{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 8+1 { // the last round kept 8 of its 10, and "last"
		t.Errorf("%d events after restart, want %d", res.Total, 8+1)
	}
}
