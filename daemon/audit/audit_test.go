package audit

import (
	"bytes"
	"os"
	"path/filepath"
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

func TestTornTailIsCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _ := Open(path)
	l.Append(Record{Actor: "a", Action: Login})
	l.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte(`{"seq":2,"actor":"a","act`)) // power cut mid-write
	f.Close()
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := l.Append(Record{Actor: "b", Action: Login})
	if r.Seq != 2 {
		t.Errorf("seq after torn tail %d, want 2", r.Seq)
	}
	if v, _ := l.Verify(); !v.OK || v.Records != 2 {
		t.Errorf("verify after torn tail: %+v", v)
	}
}

func FuzzVerifyBytes(f *testing.F) {
	path := filepath.Join(f.TempDir(), "audit.log")
	l, _ := Open(path)
	l.Append(Record{Actor: "a", Action: Login})
	l.Append(Record{Actor: "a", Action: Export, Camera: "cam1"})
	l.Close()
	b, _ := os.ReadFile(path)
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
