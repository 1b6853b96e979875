package motion

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/daemon/media"
)

// blockingAnalyzer holds every Analyze call until release is closed.
type blockingAnalyzer struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (a *blockingAnalyzer) Analyze(au [][]byte, out *mbmap.Frame) error {
	<-a.release
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	return nil
}

type countingSink struct{ started, pictures, ended int }

func (c *countingSink) StreamStarted(media.Stream) error           { c.started++; return nil }
func (c *countingSink) WriteAccessUnit(au *media.AccessUnit) error { c.pictures++; return nil }
func (c *countingSink) StreamEnded(error)                          { c.ended++ }

// In queue mode a stuck analyser never holds the recording back: every
// picture reaches Next, and what the analyser cannot take is dropped from
// the analysis only.
func TestWatcherQueueNeverBlocksRecording(t *testing.T) {
	det, err := New("cam1", "", Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	an := &blockingAnalyzer{release: make(chan struct{})}
	next := &countingSink{}
	w := &Watcher{Det: det, Analyzer: an, Next: next, Queue: 2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()

	if err := w.StreamStarted(media.Stream{Camera: "cam1", Codec: media.H264, Epoch: time.Now()}); err != nil {
		t.Fatal(err)
	}
	const n = 250 // 10 s at 25 fps, analysed at 5 per second: ~50 wanted
	nalu := make([]byte, 2000)
	nalu[0] = 0x41 // non-IDR slice
	for i := 0; i < n; i++ {
		au := &media.AccessUnit{DTS: time.Duration(i) * 40 * time.Millisecond, Key: i%50 == 0, NALUs: [][]byte{nalu}}
		au.PTS = au.DTS
		if err := w.WriteAccessUnit(au); err != nil {
			t.Fatal(err)
		}
		nalu[1] = byte(i) // the caller reuses its buffers: queued copies must not change
	}
	w.StreamEnded(nil)
	if next.pictures != n || next.started != 1 || next.ended != 1 {
		t.Fatalf("next got %d pictures, %d starts, %d ends; want %d, 1, 1", next.pictures, next.started, next.ended, n)
	}
	if w.Dropped == 0 {
		t.Errorf("Dropped = 0 with the analyser stuck, want pictures left out of the analysis")
	}
	close(an.release)
	cancel()
	<-done
}

// Inline mode (Queue 0) analyses at the detector's rate, in order.
func TestWatcherInlineAnalysesAtRate(t *testing.T) {
	det, err := New("cam1", "", Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	an := &blockingAnalyzer{release: make(chan struct{})}
	close(an.release)
	w := &Watcher{Det: det, Analyzer: an}
	if err := w.StreamStarted(media.Stream{Camera: "cam1", Codec: media.H264, Epoch: time.Now()}); err != nil {
		t.Fatal(err)
	}
	nalu := []byte{0x41, 0}
	for i := 0; i < 250; i++ {
		au := &media.AccessUnit{DTS: time.Duration(i) * 40 * time.Millisecond, NALUs: [][]byte{nalu}}
		au.PTS = au.DTS
		if err := w.WriteAccessUnit(au); err != nil {
			t.Fatal(err)
		}
	}
	if want := int(10 * det.cfg.AnalysisRate); w.Analysed < want-2 || w.Analysed > want+2 {
		t.Errorf("analysed %d pictures of 10 s, want about %d", w.Analysed, want)
	}
}
