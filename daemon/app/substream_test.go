package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/hwtest/camsim"
	"github.com/matthan/matthan/hwtest/testenv"
)

// A camera with a sub stream is analysed on it: camsim's camera sends a
// moving 720p main and a moving 360p sub; the motion events come with
// regions on the main stream's 80x45 macroblock grid (beyond the sub's
// 40x23), while the main stream is recorded.
func TestMotionOnSubStream(t *testing.T) {
	clips := testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "clips", camsim.ClipMoving720), "make clips")
	sim, err := camsim.Start(camsim.Config{Listen: "127.0.0.1:0", Cameras: 1, ClipsDir: filepath.Dir(clips), NoH265Camera: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	store, err := storage.Open(context.Background(), t.TempDir(), storage.Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var mu sync.Mutex
	var got []events.Event
	pub := events.PublisherFunc(func(e events.Event) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	cs := newCameraSet(&config.Config{AllowLoopbackCameras: true}, store, live.NewHub(), pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rtsp := "rtsp://" + sim.Addr()
	if err := cs.start(cameraSpec{Name: "cam1", URL: rtsp + "/cam1", SubURL: rtsp + "/cam1/sub", Recording: config.RecordContinuous}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.closeAll() })
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		var motion []events.Event
		for _, e := range got {
			if e.Type == events.Motion {
				motion = append(motion, e)
			}
		}
		mu.Unlock()
		if len(motion) > 0 {
			wide := false
			for _, e := range motion {
				if e.Region[2] > 40 || e.Region[3] > 23 {
					wide = true
				}
				if e.Region[2] > 80 || e.Region[3] > 45 {
					t.Fatalf("region %v beyond the 720p main stream's grid", e.Region)
				}
			}
			if !wide {
				t.Fatalf("motion regions %v are on the sub stream's grid, not the main's", motion)
			}
			if w, h := cs.list()[0].det.AnalysedGrid(); w != 40 || h != 23 {
				t.Errorf("analysed a %dx%d macroblock grid, want the 360p sub stream's 40x23", w, h)
			}
			if st := cs.list()[0].rec.Stats(); st.Frames == 0 {
				t.Errorf("main stream not recorded: %+v", st)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no motion event in 40 s; events %+v", got)
}
