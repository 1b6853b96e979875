package logring

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestRing(t *testing.T) {
	for _, tt := range []struct {
		name   string
		size   int
		writes []string
		want   string
	}{
		{"lines", 8192, []string{"a\nb\n", "c\n"}, "a\nb\nc\n"},
		{"partial held", 8192, []string{"ab", "c\nd"}, "abc\n"},
		{"oldest dropped", MaxLine, []string{strings.Repeat("x", 3000) + "\n", strings.Repeat("y", 2000) + "\n"}, strings.Repeat("y", 2000) + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.size)
			for _, w := range tt.writes {
				r.Write([]byte(w))
			}
			if got := string(r.Bytes()); got != tt.want {
				t.Errorf("Bytes() = %.40q, want %.40q", got, tt.want)
			}
		})
	}
}

func TestRingBounded(t *testing.T) {
	r := New(16 * 1024)
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(r, "line %d\n", i)
	}
	b := r.Bytes()
	if len(b) > 16*1024 {
		t.Errorf("ring holds %d bytes, want ≤ 16384", len(b))
	}
	if !bytes.HasSuffix(b, []byte("line 9999\n")) {
		t.Errorf("newest line missing: %q", b[len(b)-20:])
	}
	if r.Dropped() == 0 {
		t.Error("Dropped() = 0 after overflowing")
	}
}

func TestLongLineCut(t *testing.T) {
	r := New(64 * 1024)
	r.Write(bytes.Repeat([]byte("z"), 3*MaxLine))
	r.Write([]byte("\n"))
	for _, l := range strings.SplitAfter(string(r.Bytes()), "\n") {
		if len(l) > MaxLine {
			t.Fatalf("line of %d bytes kept, want ≤ %d", len(l), MaxLine)
		}
	}
}

func TestChanged(t *testing.T) {
	r := New(8192)
	ch := r.Changed()
	r.Write([]byte("no newline"))
	select {
	case <-ch:
		t.Fatal("Changed fired before a line completed")
	default:
	}
	r.Write([]byte("\n"))
	select {
	case <-ch:
	default:
		t.Fatal("Changed did not fire")
	}
}
