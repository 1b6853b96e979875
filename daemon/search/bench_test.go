package search

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/hwtest/testenv"
)

const benchEvents = 1_000_000

// benchEvent is event i of the benchmark index: 64 cameras, 30 days, a
// mix of types like a busy commune's.
func benchEvent(i int, rng *rand.Rand) events.Event {
	types := []events.Type{events.Motion, events.Motion, events.Motion, events.Motion, events.Motion, events.Motion,
		events.SceneChange, events.Tamper, events.CameraOffline, events.CameraOnline, events.DiskLow, events.RetentionPurge}
	words := []string{"xe máy", "người", "chó", "cổng", "sân", "đường", "đèn", "mưa", "ô tô", "xe đạp", "ban đêm", "hồng ngoại"}
	start := base.Add(time.Duration(i) * (30 * 24 * time.Hour / benchEvents))
	cam := rng.IntN(64)
	return events.Event{
		ID: fmt.Sprintf("b%07d", i), Type: types[rng.IntN(len(types))], Camera: fmt.Sprintf("cam%02d", cam),
		Household: fmt.Sprintf("hh%02d", cam/2), Start: start, End: start.Add(time.Duration(5+rng.IntN(60)) * time.Second),
		Region: [4]int{rng.IntN(40), rng.IntN(22), 40, 23}, Score: rng.Float64(),
		Text: words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))],
	}
}

// openBenchIndex builds the 1 M event index once into out/ and reuses it.
func openBenchIndex(b *testing.B) (*Index, string) {
	dir := filepath.Join(testenv.OutDir(), "search-bench", "events-1m-v2.bleve")
	done := dir + ".complete"
	if _, err := os.Stat(done); err != nil {
		os.RemoveAll(dir)
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			b.Fatal(err)
		}
		x := mustOpen(b, dir, Options{BatchSize: 10000, MaxLogBytes: 1 << 40})
		rng := rand.New(rand.NewPCG(7, 7))
		t0 := time.Now()
		batch := make([]events.Event, 0, 10000)
		for i := 0; i < benchEvents; i++ {
			batch = append(batch, benchEvent(i, rng))
			if len(batch) == cap(batch) {
				if err := x.write(batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := x.Close(); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("BENCH search_index_build_events_per_s %.0f events/s\n", benchEvents/time.Since(t0).Seconds())
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	x := mustOpen(b, dir, Options{MaxLogBytes: 1 << 40})
	opened := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	fmt.Printf("BENCH search_open_1m_s %.2f s\n", opened.Seconds())
	fmt.Printf("BENCH search_timeline_heap_bytes_per_event %.0f bytes\n", float64(m1.HeapAlloc-m0.HeapAlloc)/benchEvents)
	return x, dir
}

// BenchmarkSearch1M prints the p95 latency of a mix of officer and household
// queries on a 1 M event index, and the index's bytes per event.
func BenchmarkSearch1M(b *testing.B) {
	x, dir := openBenchIndex(b)
	defer x.Close()
	var size int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	var logSize int64
	if fi, err := os.Stat(dir + ".log"); err == nil {
		logSize = fi.Size()
	}
	n, _ := x.Count()
	if n < benchEvents {
		b.Fatalf("bench index holds %d events, want %d (remove %s)", n, benchEvents, dir)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	// The officer's page always sends a time range (default: the last
	// day); households see their own cameras. Kinds 0-3 filter only (the
	// timeline answers them), 4-5 search text (bleve).
	queries := func(i int) Query {
		day := base.Add(time.Duration(rng.IntN(29)) * 24 * time.Hour)
		cam := fmt.Sprintf("cam%02d", rng.IntN(64))
		switch i % 6 {
		case 0:
			return Query{} // everything, newest first
		case 1:
			return Query{Cameras: []string{cam}, From: day, To: day.Add(24 * time.Hour)}
		case 2:
			return Query{Types: []events.Type{events.Tamper, events.SceneChange}, From: day, To: day.Add(7 * 24 * time.Hour), Page: 3}
		case 3:
			return Query{Allowed: []string{cam, "cam00", "cam63"}, Types: []events.Type{events.Motion}, Page: 1}
		case 4:
			return Query{Text: "xe máy", From: day, To: day.Add(24 * time.Hour)}
		default:
			return Query{Text: "người đêm", Allowed: []string{cam, "cam00"}, From: day, To: day.Add(7 * 24 * time.Hour)}
		}
	}
	const perRun = 300
	var all, filter, text []time.Duration
	b.ResetTimer()
	for b.Loop() {
		for i := 0; i < perRun; i++ {
			q := queries(i)
			t0 := time.Now()
			if _, err := x.Search(b.Context(), q); err != nil {
				b.Fatal(err)
			}
			d := time.Since(t0)
			all = append(all, d)
			if q.Text == "" {
				filter = append(filter, d)
			} else {
				text = append(text, d)
			}
		}
	}
	b.StopTimer()
	p := func(l []time.Duration, q int) float64 {
		slices.Sort(l)
		return float64(l[len(l)*q/100].Microseconds()) / 1000
	}
	b.ReportMetric(p(all, 95), "p95-ms")
	fmt.Printf("BENCH search_query_p95_ms %.1f ms\n", p(all, 95))
	fmt.Printf("BENCH search_query_p50_ms %.1f ms\n", p(all, 50))
	fmt.Printf("BENCH search_filter_query_p95_ms %.1f ms\n", p(filter, 95))
	fmt.Printf("BENCH search_text_query_p95_ms %.1f ms\n", p(text, 95))
	fmt.Printf("BENCH search_index_bytes_per_event %.0f bytes\n", float64(size)/float64(n))
	fmt.Printf("BENCH search_log_bytes_per_event %.0f bytes\n", float64(logSize)/float64(n))
}

// BenchmarkRebuild100k and BenchmarkRebuild1M print how long rebuilding a
// lost bleve index from the event log takes (it runs in the background at
// open; filter queries are answered from the timeline meanwhile).
func BenchmarkRebuild100k(b *testing.B) { benchRebuild(b, 100_000, "100k") }
func BenchmarkRebuild1M(b *testing.B)   { benchRebuild(b, 1_000_000, "1m") }

func benchRebuild(b *testing.B, n int, name string) {
	dir := filepath.Join(b.TempDir(), "events.bleve")
	l, err := openEventLog(dir+".log", func(int64, events.Event) {})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	batch := make([]events.Event, 0, 10000)
	for i := range n {
		batch = append(batch, benchEvent(i*(benchEvents/n), rng))
		if len(batch) == cap(batch) {
			if _, err := l.append(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	logBytes := l.end
	l.close()
	for b.Loop() {
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		x := mustOpen(b, dir, Options{BatchSize: 10000, MaxLogBytes: 1 << 40, Logf: func(string, ...any) {}})
		opened := time.Since(t0)
		<-x.catchDone
		took := time.Since(t0)
		if c, _ := x.Count(); c != uint64(n) {
			b.Fatalf("rebuilt %d events, want %d", c, n)
		}
		x.Close()
		fmt.Printf("BENCH search_open_during_rebuild_%s_s %.2f s\n", name, opened.Seconds())
		fmt.Printf("BENCH search_rebuild_%s_s %.1f s\n", name, took.Seconds())
		fmt.Printf("BENCH search_log_bytes_per_event %.0f bytes\n", float64(logBytes)/float64(n))
	}
}
