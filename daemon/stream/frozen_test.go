package stream_test

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/ingest"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/daemon/stream"
	"github.com/matthan/matthan/hwtest/camsim"
	"github.com/matthan/matthan/hwtest/testenv"
)

// frozenViewer is a live viewer that stops reading after its first
// picture: its writes block until released.
type frozenViewer struct {
	once    sync.Once
	stuck   chan struct{}
	release chan struct{}
}

func (f *frozenViewer) StreamStarted(media.Stream) error { return nil }
func (f *frozenViewer) StreamEnded(error)                {}
func (f *frozenViewer) WriteAccessUnit(*media.AccessUnit) error {
	f.once.Do(func() { close(f.stuck) })
	<-f.release
	return nil
}

// TestFrozenViewerLeavesRecordingAndMotion: a camera (camsim, the moving
// 720p clip) publishes for 60 s to the recording path (motion watcher →
// recorder, as daemon/app wires it), the live hub (with a viewer that
// never reads its subscription) and a viewer that stops reading. The
// recording path misses nothing: every picture the camera gave is in the
// recording, whose segments follow each other without a gap and which
// ffprobe reads without an error; motion analysed all along. (With the
// old synchronous fan-out, the stopped viewer held the camera and the
// recording stopped at its first picture.)
func TestFrozenViewerLeavesRecordingAndMotion(t *testing.T) {
	if testing.Short() {
		t.Skip("60 s")
	}
	ffprobe := testenv.LookTool(t, "ffprobe", "ffmpeg")
	clips := filepath.Join(testenv.OutDir(), "clips")
	testenv.NeedFile(t, filepath.Join(clips, camsim.ClipMoving720), "make clips")
	sim, err := camsim.Start(camsim.Config{Listen: "127.0.0.1:0", Cameras: 1, ClipsDir: clips, NoH265Camera: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	store, err := storage.Open(context.Background(), t.TempDir(), storage.Options{MinFreeBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	det, err := motion.New("cam1", "", motion.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := record.New(store, "cam1", record.Options{SegmentDuration: 10 * time.Second})
	watcher := &motion.Watcher{Det: det, Analyzer: mb.NewAnalyzer(), Queue: 4, Next: rec}
	hub := live.NewHub()
	pub := stream.New()
	recording := pub.Add("record", watcher, stream.ReaderOptions{Queue: 256})
	pub.Add("live", hub.Feed("cam1"), stream.ReaderOptions{Queue: 32})
	viewer := &frozenViewer{stuck: make(chan struct{}), release: make(chan struct{})}
	frozen := pub.Add("viewer", viewer, stream.ReaderOptions{Queue: 16})

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cam, err := ingest.New("cam1", "rtsp://"+sim.Addr()+"/cam1", pub, ingest.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); cam.Run(ctx) }()
	go func() { defer wg.Done(); watcher.Run(ctx) }()
	select {
	case <-viewer.stuck:
	case <-time.After(15 * time.Second):
		cancel()
		wg.Wait()
		t.Fatal("no picture within 15 s")
	}
	// A hub viewer that never reads either.
	sub, err := hub.Subscribe("cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	t0 := time.Now()
	time.Sleep(60 * time.Second)
	cancel()
	wg.Wait()
	close(viewer.release)
	pub.Close()
	det.Close(time.Now())
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	st := cam.Status()
	rs, fs := recording.Stats(), frozen.Stats()
	t.Logf("camera: %d pictures, %d reconnects; record reader %+v; frozen viewer %+v; motion analysed %d (left out %d)",
		st.AccessUnits, st.Reconnects, rs, fs, watcher.Analysed, watcher.Dropped)
	if fs.Cuts == 0 {
		t.Error("the frozen viewer was never cut: the test did not freeze it")
	}
	if rs.Cuts != 0 || rs.Dropped != 0 || rs.Errors != 0 || rs.Delivered != st.AccessUnits {
		t.Errorf("recording path: %+v, want all %d pictures", rs, st.AccessUnits)
	}
	if min := uint64(50 * 25); st.AccessUnits < min { // 25 fps for 60 s, some slack for the start
		t.Errorf("camera gave %d pictures in 60 s, want ≥ %d", st.AccessUnits, min)
	}
	if watcher.Analysed < 60 { // 5 a second is the detector's rate; a busy machine analyses fewer
		t.Errorf("motion analysed %d pictures in 60 s", watcher.Analysed)
	}

	segs := store.Segments("cam1", t0.Add(-time.Minute), time.Now().Add(time.Minute))
	if len(segs) < 5 {
		t.Fatalf("%d segments for 60 s of 10 s segments", len(segs))
	}
	packets := 0
	for i, s := range segs {
		out, err := exec.Command(ffprobe, "-v", "error", "-count_packets", "-select_streams", "v:0",
			"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", store.Path(s)).CombinedOutput()
		lines := strings.Fields(strings.TrimSpace(string(out)))
		if err != nil || len(lines) != 1 {
			t.Errorf("ffprobe %s: %v: %s", s.File, err, out)
			continue
		}
		n, _ := strconv.Atoi(lines[0])
		packets += n
		if i > 0 && s.Start.Sub(segs[i-1].End) > 200*time.Millisecond {
			t.Errorf("gap of %v before %s", s.Start.Sub(segs[i-1].End), s.File)
		}
	}
	if uint64(packets) != st.AccessUnits {
		t.Errorf("recording holds %d pictures, the camera gave %d", packets, st.AccessUnits)
	}
	if span := segs[len(segs)-1].End.Sub(segs[0].Start); span < 58*time.Second {
		t.Errorf("recording spans %v, want ≥ 58 s", span)
	}
}
