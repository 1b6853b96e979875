package motionbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/motion/internal/scenes"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

// streamOf is the media.Stream of a clip: parameter sets and size from its
// first SPS and PPS.
func streamOf(aus []media.AccessUnit, camera string) media.Stream {
	s := media.Stream{Camera: camera, Codec: media.H264, Epoch: epoch}
	for _, au := range aus[:min(len(aus), 2)] {
		for _, n := range au.NALUs {
			switch h264.NALType(n) {
			case h264.NALSPS:
				if s.SPS == nil {
					s.SPS = n
					if sps, err := h264.ParseSPS(h264.Unescape(nil, n[1:])); sps != nil && err == nil {
						s.Width, s.Height = sps.WidthMB*16, sps.HeightMB*16
					}
				}
			case h264.NALPPS:
				if s.PPS == nil {
					s.PPS = n
				}
			}
		}
	}
	return s
}

// upTo cuts a looped stream at d.
func upTo(aus []media.AccessUnit, d time.Duration) []media.AccessUnit {
	for i := range aus {
		if aus[i].DTS >= d {
			return aus[:i]
		}
	}
	return aus
}

// processCPU is the process's processor time, all threads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PipelineCost prints what the whole box spends on one camera with a main
// and a sub stream, as matthand wires it (daemon/app): the main stream goes
// to the live hub (ready, no viewer) and through the gate (continuous) to
// the recorder and the store; the sub stream goes to the live hub and to
// the motion watcher (analysis in its own goroutine). Beside it, the same
// without the sub stream's analysis (record only). RTSP ingest is not in
// either. The streams are fed in real time (a picture of each every 40
// ms): warmup seconds not measured (the detector learns the scene and its
// key frames, as a camera does once), then seconds measured; figures are
// process CPU time per second of video, the least of runs runs (the
// machine is shared: compare the ratio, taken in the same run). Beside them, what a process
// doing nothing but waking 25 times a second costs on this machine
// (pipeline_wakeup_baseline): on a virtual machine the wake-ups alone are
// a good part of both figures.
func PipelineCost(ctx context.Context, w io.Writer, mainPath, subPath string, warmup, seconds, runs int) error {
	mainAUs, err := AccessUnits(mainPath)
	if err != nil {
		return err
	}
	subAUs, err := AccessUnits(subPath)
	if err != nil {
		return err
	}
	// Warm-up first, not measured: the detector learns the scene and
	// analyses the first key frames (its history of them is short), which
	// a camera does once, at start.
	warm := time.Duration(warmup) * time.Second
	d := time.Duration(seconds)*time.Second + warm
	mainS, subS := upTo(loop(mainAUs, d), d), upTo(loop(subAUs, d), d)
	dur := mainS[len(mainS)-1].DTS + 40*time.Millisecond - warm
	run := func(analyse bool) (time.Duration, error) {
		dir, err := os.MkdirTemp(shmOrTemp(), "matthan-bench-pipeline-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		st, err := storage.Open(ctx, dir, storage.Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
		if err != nil {
			return 0, err
		}
		defer st.Close()
		hub := live.NewHub()
		det, err := motion.New("cam", "", motion.Config{}, nil)
		if err != nil {
			return 0, err
		}
		rec := record.New(st, "cam", record.Options{})
		gate := motion.NewGate(rec, det, motion.GateConfig{Mode: motion.Continuous})
		watcher := &motion.Watcher{Det: det, Analyzer: mb.NewAnalyzer(), Peek: mb.NewAnalyzer(), Queue: 4}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { watcher.Run(wctx); close(done) }()
		mainSink := []media.Sink{hub.Feed("cam"), gate}
		subSink := []media.Sink{hub.Feed("cam/sub")}
		if analyse {
			subSink = append(subSink, watcher)
		}
		ms, ss := streamOf(mainAUs, "cam"), streamOf(subAUs, "cam/sub")
		var cpu0 time.Duration
		for _, k := range mainSink {
			k.StreamStarted(ms)
		}
		for _, k := range subSink {
			k.StreamStarted(ss)
		}
		// In real time, as a camera sends: one picture of each stream
		// every 40 ms (the wake-ups are part of the cost).
		tick := time.NewTicker(time.Second / scenes.FPS)
		j := 0
		measured := false
		for i := range mainS {
			<-tick.C
			if !measured && mainS[i].DTS >= warm {
				measured, cpu0 = true, processCPU()
			}
			for _, k := range mainSink {
				k.WriteAccessUnit(&mainS[i])
			}
			for ; j < len(subS) && subS[j].DTS <= mainS[i].DTS; j++ {
				for _, k := range subSink {
					k.WriteAccessUnit(&subS[j])
				}
			}
		}
		tick.Stop()
		for _, k := range mainSink {
			k.StreamEnded(nil)
		}
		for _, k := range subSink {
			k.StreamEnded(nil)
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-done
		cpu := processCPU() - cpu0
		if err := rec.Close(); err != nil {
			return 0, err
		}
		if watcher.Dropped > 0 {
			fmt.Fprintf(w, "# pipeline bench: the analysis left out %d pictures\n", watcher.Dropped)
		}
		return cpu, nil
	}
	best := func(analyse bool) (time.Duration, error) {
		b := time.Duration(1 << 62)
		for range max(runs, 1) {
			c, err := run(analyse)
			if err != nil {
				return 0, err
			}
			b = min(b, c)
		}
		return b, nil
	}
	full, err := best(true)
	if err != nil {
		return err
	}
	recOnly, err := best(false)
	if err != nil {
		return err
	}
	idle := time.Duration(1 << 62)
	for range max(runs, 1) {
		tick := time.NewTicker(time.Second / scenes.FPS)
		c0 := processCPU()
		for range int(dur / (time.Second / scenes.FPS)) {
			<-tick.C
		}
		tick.Stop()
		idle = min(idle, processCPU()-c0)
	}
	f, r := 100*full.Seconds()/dur.Seconds(), 100*recOnly.Seconds()/dur.Seconds()
	fmt.Fprintf(w, "BENCH pipeline_wakeup_baseline %.3f %%core\n", 100*idle.Seconds()/dur.Seconds())
	fmt.Fprintf(w, "BENCH pipeline_cpu_per_camera %.3f %%core\n", f)
	fmt.Fprintf(w, "BENCH pipeline_record_only_cpu_per_camera %.3f %%core\n", r)
	if r > 0 {
		fmt.Fprintf(w, "BENCH pipeline_cpu_ratio_over_record_only %.2f x\n", f/r)
	}
	return nil
}

func shmOrTemp() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm" // tmpfs: our CPU, not the disk's latency
	}
	return os.TempDir()
}
