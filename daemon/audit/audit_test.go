package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppendVerifyAndTamper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{Login, LiveView, Export, Change} {
		if _, err := l.Append(Record{Actor: "canbo", Action: a, Camera: "cam1"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// Reopen continues the chain.
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Append(Record{Actor: "canbo", Action: Logout})
	if err != nil || r.Seq != 5 {
		t.Fatalf("append after reopen: seq %d, %v", r.Seq, err)
	}
	v, _ := l.Verify()
	if !v.OK || v.Records != 5 || v.Head != r.Hash {
		t.Fatalf("verify intact log: %+v", v)
	}
	recs, _ := l.Read(Filter{Action: Export}, 10)
	if len(recs) != 1 || recs[0].Seq != 3 {
		t.Errorf("Read(export) = %+v", recs)
	}
	l.Close()
	orig, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSpace(orig), []byte("\n"))
	for _, tt := range []struct {
		name string
		edit func() []byte
	}{
		{"edited detail", func() []byte { return bytes.Replace(orig, []byte(`"action":"export"`), []byte(`"action":"exporx"`), 1) }},
		{"removed record", func() []byte { return append(bytes.Join(append(lines[:2:2], lines[3:]...), []byte("\n")), '\n') }},
		{"swapped records", func() []byte {
			sw := [][]byte{lines[0], lines[2], lines[1], lines[3], lines[4]}
			return append(bytes.Join(sw, []byte("\n")), '\n')
		}},
		{"garbage line", func() []byte { return append(append([]byte{}, orig...), []byte("not json\n")...) }},
	} {
		v := VerifyBytes(tt.edit())
		if v.OK {
			t.Errorf("%s: tampering not detected", tt.name)
		}
	}
}

// TestTornTailIsRepaired: a power cut mid-write leaves half a line; open
// cuts it and says so in a Gap record, and the chain verifies (before, a
// torn line later followed by records broke the chain for good).
func TestTornTailIsRepaired(t *testing.T) {
	for _, tail := range []string{`{"seq":2,"actor":"a","act`, "\x00\x00\x00\x00\x00\x00\x00\x00\n", `{"seq":2,"garbage"}` + "\n\x00\x00"} {
		path := filepath.Join(t.TempDir(), "audit.log")
		l, _ := Open(path)
		l.Append(Record{Actor: "a", Action: Login})
		l.Close()
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		f.Write([]byte(tail)) // power cut mid-write
		f.Close()
		l, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := l.Append(Record{Actor: "b", Action: Login})
		if r.Seq != 3 {
			t.Errorf("%q: seq after torn tail %d, want 3 (after the gap record)", tail, r.Seq)
		}
		gaps, _ := l.Read(Filter{Action: Gap}, 10)
		if len(gaps) != 1 || gaps[0].Seq != 2 || !strings.Contains(gaps[0].Detail, fmt.Sprintf("%d bytes", len(tail))) {
			t.Errorf("%q: gap records %+v", tail, gaps)
		}
		if v, _ := l.Verify(); !v.OK || v.Records != 3 || v.Gaps != 1 {
			t.Errorf("%q: verify after torn tail: %+v", tail, v)
		}
		l.Close()
	}
}

// twoRecordLog is the bytes of a log holding a login and an export, a
// fuzz seed.
func twoRecordLog(f *testing.F) []byte {
	path := filepath.Join(f.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	l.Append(Record{Actor: "a", Action: Login})
	l.Append(Record{Actor: "a", Action: Export, Camera: "cam1"})
	l.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func FuzzVerifyBytes(f *testing.F) {
	b := twoRecordLog(f)
	f.Add(b)
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":1,"prev":"","hash":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v := VerifyBytes(data)
		if v.OK && bytes.Count(data, []byte("\n")) < v.Records-1 {
			t.Fatalf("counted %d records in %d lines", v.Records, bytes.Count(data, []byte("\n")))
		}
	})
}

func TestConcurrentAppendsKeepTheChain(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 25; i++ {
				if _, err := l.Append(Record{Actor: "u", Action: LiveView}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	if v, _ := l.Verify(); !v.OK || v.Records != 200 {
		t.Errorf("after concurrent appends: %+v", v)
	}
}

// FuzzOpen: any bytes as the current file (a card after a power cut, or an
// edited file) open without error or panic; the log takes an append that
// continues the last whole record's chain, and reopening finds it.
func FuzzOpen(f *testing.F) {
	b := twoRecordLog(f)
	f.Add(b)
	f.Add(b[:len(b)-7])
	f.Add(append(bytes.Clone(b), 0, 0, 0, '\n', 0))
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":9,"prev":"","hash":"x"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "audit.log")
		os.WriteFile(p, data, 0o600)
		l, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		seq, _ := l.Head()
		r, err := l.Append(Record{Actor: "z", Action: Logout})
		if err != nil || r.Seq != seq+1 {
			t.Fatalf("append after open: seq %d (head %d), %v", r.Seq, seq, err)
		}
		l.Close()
		if last, ok := lastRecord(p); !ok || last.Hash != r.Hash {
			t.Fatalf("reopened: last record %+v, want %d", last, r.Seq)
		}
		l, err = Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if s, h := l.Head(); s != r.Seq || h != r.Hash {
			t.Fatalf("head after reopen %d, want %d", s, r.Seq)
		}
		l.Close()
	})
}
