package record_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

// BenchmarkRecorder feeds a 720p25 clip (~4 Mbit/s) through a Recorder
// into a store, with the default fragment, segment and fsync policy. It
// reports the CPU share of one core that one real-time stream costs the
// recorder core (muxing, writes, fsyncs, index), allocations per frame, and
// bytes written to disk (segments + index) per byte of video received.
func BenchmarkRecorder(b *testing.B) {
	clip := recordtest.LoadClip(b, "moving-720p.h264")
	st := benchStore(b, "matthan-bench-record-")
	rec := record.New(st, "cam", record.Options{})
	s := clip.Stream
	s.Camera, s.Epoch = "cam", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	rec.StreamStarted(s)
	var fed int64
	frame := time.Second / 25
	n := 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		au := clip.AUs[n%len(clip.AUs)]
		au.DTS = time.Duration(n) * frame
		au.PTS = au.DTS
		for _, nalu := range au.NALUs {
			fed += int64(len(nalu))
		}
		if err := rec.WriteAccessUnit(&au); err != nil {
			b.Fatal(err)
		}
		n++
	}
	rec.StreamEnded(nil)
	b.StopTimer()
	// CPU time of the process (user + system, all threads), not wall time:
	// the machine may be shared.
	perFrame := float64((cpuTime() - cpu0).Nanoseconds()) / float64(b.N)
	b.ReportMetric(perFrame*25/1e9*100, "%core/stream")
	stats := st.Stats()
	b.ReportMetric(float64(stats.VideoBytes+stats.IndexBytes)/float64(fed), "written/received")
	b.ReportMetric(float64(stats.IndexBytes), "index-bytes")
}

// benchStore opens a store in a fresh folder on tmpfs when there is one
// (to measure our CPU, not the disk's latency), closed and removed after b.
func benchStore(b *testing.B, prefix string) *storage.Store {
	dir := b.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", prefix); err == nil {
			dir = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	st, err := storage.Open(context.Background(), dir, storage.Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecorderMemory records 16 cameras of the 720p25 clip (~4 Mbit/s)
// for 4 s of video each, interleaved as they would arrive, and reports the
// Go heap the recorders hold per camera once warm (after a GC): mostly the
// fragment being collected. Run with -benchtime 1x.
func BenchmarkRecorderMemory(b *testing.B) {
	const cameras, frames = 16, 100
	clip := recordtest.LoadClip(b, "moving-720p.h264")
	st := benchStore(b, "matthan-bench-recmem-")
	var perCamera float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		recs := make([]*record.Recorder, cameras)
		for i := range recs {
			name := fmt.Sprintf("cam%d", i)
			recs[i] = record.New(st, name, record.Options{})
			s := clip.Stream
			s.Camera, s.Epoch = name, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
			recs[i].StreamStarted(s)
		}
		for n := range frames {
			for _, rec := range recs {
				au := clip.AUs[n%len(clip.AUs)]
				au.DTS = time.Duration(n) * time.Second / 25
				au.PTS = au.DTS
				if err := rec.WriteAccessUnit(&au); err != nil {
					b.Fatal(err)
				}
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perCamera = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / cameras / (1 << 20)
		for _, rec := range recs {
			rec.Close()
		}
	}
	b.ReportMetric(perCamera, "heap-MB/camera")
}
