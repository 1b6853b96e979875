// Package motionbench measures motion detectors on the labelled scenes of
// daemon/motion/internal/scenes: ours (macroblock analysis, no decoding) and the
// Motion daemon (Debian package motion, which decodes every picture), run
// on the same clips — Motion reads them over RTSP from a small server of
// this package. It reports precision, recall and delay per scene family,
// and the CPU each detector spends per camera.
package motionbench

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/motion/internal/scenes"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Result is what a detector reported on one clip.
type Result struct {
	Motion  []scenes.Detection
	Globals []scenes.GlobalDetection
	// CPU is the processor time spent on the clip; Analysed counts the
	// pictures analysed; Errors those the analyser could not parse.
	CPU      time.Duration
	Analysed int
	Errors   int
	Frames   int
}

// AccessUnits reads an Annex-B clip into access units with their key flags.
func AccessUnits(path string) ([]media.AccessUnit, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var aus []media.AccessUnit
	h264.AccessUnits(data, func(nalus [][]byte) bool {
		au := media.AccessUnit{NALUs: append([][]byte(nil), nalus...)}
		for _, n := range nalus {
			if h264.NALType(n) == h264.NALIDRSlice {
				au.Key = true
			}
		}
		d := time.Duration(len(aus)) * time.Second / scenes.FPS
		au.DTS, au.PTS = d, d
		aus = append(aus, au)
		return true
	})
	if len(aus) == 0 {
		return nil, fmt.Errorf("motionbench: %s holds no access unit", path)
	}
	return aus, nil
}

// Lead-in before each clip, for both detectors: its second GOP (LeadFrames
// from LeadFrom, a static street in every scene; the encoder's very first
// key frame, made while its rate control warms up, is left out) played
// LeadLoops times. Detectors learn the scene and the Motion daemon gets
// past its stream probing (which otherwise delays it by ~3 s) before the
// clip proper starts.
const (
	LeadFrom   = 50
	LeadFrames = 50
	LeadLoops  = 5
)

// LeadDuration is how long the lead-in lasts.
const LeadDuration = LeadFrames * LeadLoops * time.Second / scenes.FPS

// WithLeadIn returns the lead-in followed by the clip, timestamps running on.
func WithLeadIn(aus []media.AccessUnit) []media.AccessUnit {
	from := LeadFrom
	if len(aus) < from+LeadFrames {
		from = 0
	}
	n := min(LeadFrames, len(aus)-from)
	out := make([]media.AccessUnit, 0, n*LeadLoops+len(aus))
	for range LeadLoops {
		out = append(out, aus[from:from+n]...)
	}
	out = append(out, aus...)
	for i := range out {
		d := time.Duration(i) * time.Second / scenes.FPS
		out[i].DTS, out[i].PTS = d, d
	}
	return out
}

// RunOurs feeds a clip's access units through the macroblock analyser and
// the detector, as the daemon does for a live camera, and returns the
// events with the stream time at which each was published.
//
// aus is a clip with its lead-in (WithLeadIn) when lead is LeadDuration;
// clip times are stream times minus lead.
func RunOurs(aus []media.AccessUnit, lead time.Duration, cfg motion.Config) (Result, error) {
	return RunOursOnGrid(aus, lead, cfg, [2]int{})
}

// RunOursOnGrid is RunOurs for a sub stream whose events are wanted on
// the main stream's macroblock grid (grid: width, height in macroblocks).
func RunOursOnGrid(aus []media.AccessUnit, lead time.Duration, cfg motion.Config, grid [2]int) (Result, error) {
	var res Result
	var now time.Duration
	open := map[string]int{}
	pub := events.PublisherFunc(func(e events.Event) {
		sec := func(t time.Time) float64 { return t.Sub(epoch).Seconds() - lead.Seconds() }
		switch e.Type {
		case events.Motion:
			r := [4]int{e.Region[0] * 16, e.Region[1] * 16, e.Region[2] * 16, e.Region[3] * 16}
			if i, ok := open[e.ID]; ok {
				res.Motion[i].End = sec(e.End)
				res.Motion[i].Region = r
				return
			}
			open[e.ID] = len(res.Motion)
			end := sec(e.End)
			if e.End.IsZero() {
				end = 1e9
			}
			res.Motion = append(res.Motion, scenes.Detection{Start: sec(e.Start), End: end, Reported: (now - lead).Seconds(), Region: r})
		case events.SceneChange, events.Tamper:
			g := scenes.GlobalDetection{Type: string(e.Type), Reason: e.Reason, At: sec(e.Start), Reported: (now - lead).Seconds()}
			if i, ok := open[e.ID]; ok { // an extended change: same event
				res.Globals[i] = g
				return
			}
			open[e.ID] = len(res.Globals)
			res.Globals = append(res.Globals, g)
		}
	})
	det, err := motion.New("bench", "", cfg, pub)
	if err != nil {
		return res, err
	}
	det.SetGrid(grid[0], grid[1])
	w := &motion.Watcher{Det: det, Analyzer: mb.NewAnalyzer()}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	if err := w.StreamStarted(media.Stream{Camera: "bench", Codec: media.H264, Epoch: epoch}); err != nil {
		return res, err
	}
	var restart time.Duration // DTS at which the clip proper starts (after the lead-in)
	for i := range aus {
		now = aus[i].DTS
		if lead > 0 && restart == 0 && aus[i].DTS >= lead {
			// The clip proper is a stream of its own after the lead-in
			// (its first key frame is the encoder's warm-up, as after a
			// camera reconnects); times run on.
			w.StreamEnded(nil)
			restart = aus[i].DTS
			if err := w.StreamStarted(media.Stream{Camera: "bench", Codec: media.H264, Epoch: epoch.Add(restart)}); err != nil {
				return res, err
			}
		}
		au := aus[i]
		au.DTS -= restart
		au.PTS -= restart
		if err := w.WriteAccessUnit(&au); err != nil {
			return res, err
		}
	}
	w.StreamEnded(nil)
	res.CPU = threadCPU() - start
	res.Analysed, res.Errors, res.Frames = w.Analysed, w.Errors, len(aus)
	return res, nil
}

// threadCPU is the calling OS thread's processor time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
