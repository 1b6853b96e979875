package storage

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The size the index must handle: 30 days of one-minute segments of 64
// cameras, about 2.8 million segments.
const (
	benchCameras = 64
	benchDays    = 30
	benchSegs    = benchDays * 24 * 60
)

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

// benchData writes the journals of benchCameras cameras with benchSegs
// segments each (no video files: start-up must not look at them), as a
// long-running box leaves them: compacted, plus a day of appended
// open/close/delete records. It is made once per test binary run.
func benchData(b *testing.B) string {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "matthan-bench-index-")
		if benchErr != nil {
			return
		}
		start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).UnixNano()
		for c := range benchCameras {
			dir := filepath.Join(benchDir, "recordings", cameraName(c))
			if benchErr = os.MkdirAll(dir, 0o755); benchErr != nil {
				return
			}
			buf := make([]byte, 0, recordSize*(benchSegs+3*1440+1))
			buf = append(buf, journalMagic...)
			compacted := benchSegs - 1440
			for i := range benchSegs {
				st := start + int64(i)*int64(time.Minute) + int64(c)*int64(time.Millisecond)
				rec := record{kind: recClose, start: st, end: st + int64(time.Minute), size: 30 << 20}
				if i >= compacted {
					buf = record{kind: recOpen, start: st}.append(buf)
					buf = rec.append(buf)
					buf = record{kind: recDelete, start: st - int64(benchDays)*24*int64(time.Hour)}.append(buf)
				} else {
					buf = rec.append(buf)
				}
			}
			if benchErr = os.WriteFile(filepath.Join(dir, journalName), buf, 0o644); benchErr != nil {
				return
			}
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func cameraName(i int) string { return "cam" + string(rune('A'+i/26)) + string(rune('a'+i%26)) }

// BenchmarkIndexStartup opens a store holding 2.8 M segments: journal
// load, replay and repair. Reported as ms/startup (page cache warm).
func BenchmarkIndexStartup(b *testing.B) {
	dir := benchData(b)
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		s, err := Open(context.Background(), dir, Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t).Microseconds())/1000, "ms/startup")
		n := 0
		for _, c := range s.cams {
			n += len(c.segs)
		}
		if n != benchCameras*benchSegs {
			b.Fatalf("loaded %d segments, want %d", n, benchCameras*benchSegs)
		}
		b.ReportMetric(float64(n), "segments")
		s.Close()
	}
}

// BenchmarkIndexQuery asks for one random camera's segments in a random
// hour of the 30 days (about 60 segments back).
func BenchmarkIndexQuery(b *testing.B) {
	dir := benchData(b)
	s, err := Open(context.Background(), dir, Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	got := 0
	b.ResetTimer()
	const perOp = 1000
	for b.Loop() {
		for range perOp {
			from := start.Add(time.Duration(rng.IntN(benchDays*24-1)) * time.Hour)
			segs := s.Segments(cameraName(rng.IntN(benchCameras)), from, from.Add(time.Hour))
			got += len(segs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp)/1e6, "ms/query")
	if got == 0 {
		b.Fatal("queries found nothing")
	}
}
