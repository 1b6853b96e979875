package motionbench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/motion/internal/scenes"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

// MixedModeBytes prints what the mixed recording mode keeps per day once
// its plain video is past its days (only the segments holding an event
// are left), against continuous recording, on hours of a street with
// eventsPerHour people crossing at random times (seeded): a crossing
// clip's static part looped, the crossing itself cut in at each event.
// The video goes through the daemon's own path: the motion watcher and
// detector, the gate (continuous), the recorder (one-minute segments)
// and the store on tmpfs; each alarm event marks its segments from 5 s
// before it to 10 s after it (the gate's default buffers), as daemon/app
// does. The pictures are fed as fast as they are taken (no real-time
// pacing): the figures are bytes, not CPU.
func MixedModeBytes(ctx context.Context, w io.Writer, clipPath string, hours, eventsPerHour int) error {
	aus, err := AccessUnits(clipPath)
	if err != nil {
		return err
	}
	if len(aus) < LeadFrom+LeadFrames+25 {
		return fmt.Errorf("motionbench: %s is too short for the mixed-mode bench", clipPath)
	}
	quiet := aus[LeadFrom : LeadFrom+LeadFrames] // a static street, one GOP from its key frame
	crossing := aus[LeadFrom:]                   // the same, then a person crossing
	total := time.Duration(hours) * time.Hour
	rng := rand.New(rand.NewPCG(15, uint64(eventsPerHour)))
	var at []time.Duration
	for h := range hours {
		for range eventsPerHour {
			at = append(at, time.Duration(h)*time.Hour+time.Duration(rng.Int64N(int64(time.Hour))))
		}
	}
	slices.Sort(at)

	dir, err := os.MkdirTemp(shmOrTemp(), "matthan-bench-mixed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := storage.Open(ctx, dir, storage.Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
	if err != nil {
		return err
	}
	defer st.Close()
	var alarms int
	var markErr error
	pub := events.PublisherFunc(func(e events.Event) {
		if !e.Alarm() {
			return
		}
		if e.End.IsZero() {
			alarms++
		}
		end := e.End
		if end.Before(e.Start) {
			end = e.Start // still going: marked again when it ends
		}
		if err := st.MarkEvent("cam", e.Start.Add(-motion.DefaultPre), end.Add(motion.DefaultPost)); err != nil && markErr == nil {
			markErr = err
		}
	})
	det, err := motion.New("cam", "", motion.Config{}, pub)
	if err != nil {
		return err
	}
	rec := record.New(st, "cam", record.Options{})
	gate := motion.NewGate(rec, det, motion.GateConfig{Mode: motion.Continuous})
	watcher := &motion.Watcher{Det: det, Analyzer: mb.NewAnalyzer(), Next: gate}
	if err := watcher.StreamStarted(streamOf(aus, "cam")); err != nil {
		return err
	}
	var t time.Duration
	frame := time.Second / scenes.FPS
	feed := func(part []media.AccessUnit) error {
		for i := range part {
			au := part[i]
			au.DTS, au.PTS = t, t
			if err := watcher.WriteAccessUnit(&au); err != nil {
				return err
			}
			t += frame
		}
		return ctx.Err()
	}
	for t < total {
		part := quiet
		if len(at) > 0 && at[0] <= t {
			part = crossing
			for len(at) > 0 && at[0] <= t+time.Duration(len(crossing))*frame {
				at = at[1:] // events closer than one crossing are one crossing
			}
		}
		if err := feed(part); err != nil {
			return err
		}
	}
	watcher.StreamEnded(nil)
	if err := rec.Close(); err != nil {
		return err
	}
	if markErr != nil {
		return markErr
	}
	u := st.Usage()
	days := t.Hours() / 24
	cont, mixed := float64(u.Bytes)/days, float64(u.EventBytes)/days
	fmt.Fprintf(w, "# mixed mode: %d h of a street, %d crossings an hour, %d alarm events, 1-minute segments\n", hours, eventsPerHour, alarms)
	fmt.Fprintf(w, "BENCH continuous_bytes_per_day %.1f MB/day\n", cont/1e6)
	fmt.Fprintf(w, "BENCH mixed_mode_bytes_per_day %.1f MB/day\n", mixed/1e6)
	if cont > 0 {
		fmt.Fprintf(w, "BENCH mixed_mode_share_of_continuous %.3f\n", mixed/cont)
	}
	return nil
}
