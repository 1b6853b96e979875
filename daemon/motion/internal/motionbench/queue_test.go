package motionbench

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/motion/internal/scenes"
	"github.com/matthan/matthan/hwtest/testenv"
)

// The watcher in queue mode (as daemon/app runs it: analysis in its own
// goroutine; the headers of the pictures not analysed read on the ingest
// side (Peek) or sent as header-only jobs) gives the same events as
// inline. Regression: header jobs
// once reported their truncated size, and every analysed picture looked
// like a picture coded afresh (an endless scene change on a moving
// camera).
func TestQueueModeSameEvents(t *testing.T) {
	testenv.LookTool(t, "ffmpeg", "ffmpeg")
	for _, name := range []string{"crossing-medium-fast-360p", "keyframe-cover-after-wp-360p"} {
		var s scenes.Scene
		for _, c := range scenes.All(640, 360) {
			if c.Name == name {
				s = c
			}
		}
		aus := sceneAUs(t, s)
		run := func(queue int, peek bool) []string {
			var got []string
			det, err := motion.New("bench", "", motion.Config{}, events.PublisherFunc(func(e events.Event) {
				if !e.End.IsZero() || e.Type != events.Motion {
					got = append(got, fmt.Sprintf("%s/%s %s", e.Type, e.Reason, e.Start.Sub(epoch)))
				}
			}))
			if err != nil {
				t.Fatal(err)
			}
			w := &motion.Watcher{Det: det, Analyzer: mb.NewAnalyzer(), Queue: queue}
			if peek {
				w.Peek = mb.NewAnalyzer()
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			if queue > 0 {
				go func() { w.Run(ctx); close(done) }()
			}
			w.StreamStarted(media.Stream{Camera: "bench", Codec: media.H264, Epoch: epoch})
			idle := func() {
				for queue > 0 && w.Pending() > 0 {
					runtime.Gosched()
				}
			}
			for i := range aus {
				w.WriteAccessUnit(&aus[i])
				idle() // as in real time: the analysis keeps up
			}
			w.StreamEnded(nil)
			idle()
			cancel()
			if queue > 0 {
				<-done
			}
			if w.Dropped > 0 {
				t.Fatalf("%s: queue mode left out %d pictures", name, w.Dropped)
			}
			return got
		}
		inline, queued, peeked := run(0, false), run(4, false), run(4, true)
		if fmt.Sprint(inline) != fmt.Sprint(queued) {
			t.Errorf("%s: inline events %v, queue mode %v", name, inline, queued)
		}
		if fmt.Sprint(inline) != fmt.Sprint(peeked) {
			t.Errorf("%s: inline events %v, queue mode with Peek %v", name, inline, peeked)
		}
		if len(inline) == 0 {
			t.Errorf("%s: no event at all", name)
		}
	}
}
