package motionbench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/motion/internal/scenes"
)

// Options of a benchmark run.
type Options struct {
	ScenesDir    string
	MotionDaemon bool
	Cost         bool
	// Mixed measures the mixed mode's bytes per day (MixedModeBytes).
	Mixed bool
	// Pipeline measures only pipeline_cpu_per_camera (no scene is scored).
	Pipeline bool
	Only     string
	Verbose  bool
	Out      io.Writer
}

type clip struct {
	truth scenes.Truth
	path  string
}

func loadScenes(dir, only string) ([]clip, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []clip
	for _, p := range paths {
		if only != "" && !strings.Contains(filepath.Base(p), only) {
			continue
		}
		t, err := scenes.Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, clip{truth: t, path: filepath.Join(dir, t.Clip)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenes in %s: run scenegen (make motion-scenes)", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].truth.Name < out[j].truth.Name })
	return out, nil
}

// Run runs the benchmark and prints BENCH lines to o.Out.
func Run(ctx context.Context, o Options) error {
	if o.Pipeline {
		return pipeline(ctx, o)
	}
	clips, err := loadScenes(o.ScenesDir, o.Only)
	if err != nil {
		return err
	}
	ours := map[string]*scenes.Score{}
	var families []string
	for _, c := range clips {
		if err := ctx.Err(); err != nil {
			return err
		}
		aus, err := AccessUnits(c.path)
		if err != nil {
			return err
		}
		var grid [2]int
		if c.truth.MainWidth > 0 { // a sub stream: events on its main stream's grid
			grid = [2]int{(c.truth.MainWidth + 15) / 16, (c.truth.MainHeight + 15) / 16}
		}
		res, err := RunOursOnGrid(WithLeadIn(aus), LeadDuration, motion.Config{}, grid)
		if err != nil {
			return fmt.Errorf("%s: %w", c.truth.Name, err)
		}
		s := scenes.Match(c.truth, res.Motion, res.Globals)
		if o.Verbose {
			fmt.Fprintf(o.Out, "# %s: analysed %d/%d (errors %d) truth %v global %v\n#   ours motion %v globals %v -> TP %d FP %d delays %v\n",
				c.truth.Name, res.Analysed, res.Frames, res.Errors, c.truth.Motion, c.truth.Global, res.Motion, res.Globals, s.TruePositives, s.FalsePositive, s.Delays)
		}
		if ours[c.truth.Family] == nil {
			ours[c.truth.Family] = &scenes.Score{}
			families = append(families, c.truth.Family)
		}
		ours[c.truth.Family].Add(s)
	}
	sort.Strings(families)
	var theirs map[string]*scenes.Score
	if o.MotionDaemon {
		if theirs, err = runMotionDaemon(ctx, o, clips); err != nil {
			return err
		}
	}
	for _, f := range families {
		printScore(o.Out, "ours", f, ours[f])
		if theirs != nil && theirs[f] != nil {
			printScore(o.Out, "motiond", f, theirs[f])
		}
	}
	if o.Mixed {
		// A crossing every 6 minutes on average, for 3 hours.
		if err := MixedModeBytes(ctx, o.Out, filepath.Join(o.ScenesDir, "crossing-medium-fast-360p.h264"), 3, 10); err != nil {
			return err
		}
	}
	if !o.Cost {
		return nil
	}
	var cc []CostClip
	for _, sz := range [][2]int{{640, 360}, {1920, 1080}} {
		for _, s := range scenes.All(sz[0], sz[1]) {
			if s.Family != "crossing" || !strings.Contains(s.Name, "medium-slow") {
				continue
			}
			dir := filepath.Join(o.ScenesDir, "cost")
			if err := scenes.Generate(ctx, dir, s); err != nil {
				return err
			}
			cc = append(cc, CostClip{Label: fmt.Sprintf("%dp25", sz[1]), Path: filepath.Join(dir, s.Name+".h264"), Width: sz[0], Height: sz[1]})
		}
	}
	if err := Cost(ctx, o.Out, cc, o.MotionDaemon); err != nil {
		return err
	}
	return pipeline(ctx, o)
}

// pipeline measures the whole box for one camera: 1080p main recorded,
// 360p sub analysed.
func pipeline(ctx context.Context, o Options) error {
	m, s := scenes.Pair()
	dir := filepath.Join(o.ScenesDir, "cost")
	for _, sc := range []scenes.Scene{m, s} {
		if err := scenes.Generate(ctx, dir, sc); err != nil {
			return err
		}
	}
	return PipelineCost(ctx, o.Out, filepath.Join(dir, m.Name+".h264"), filepath.Join(dir, s.Name+".h264"), 12, 20, 2)
}

// runMotionDaemon runs the Motion daemon on the clips in small batches (so
// that it keeps up in real time on a shared 2-core machine) and scores it.
func runMotionDaemon(ctx context.Context, o Options, clips []clip) (map[string]*scenes.Score, error) {
	out := map[string]*scenes.Score{}
	budget := 0.0 // in 360p cameras
	var batch []clip
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var cams []MotionCamera
		longest := 0.0
		for _, c := range batch {
			aus, err := AccessUnits(c.path)
			if err != nil {
				return err
			}
			cams = append(cams, MotionCamera{Name: c.truth.Name, Width: c.truth.Width, Height: c.truth.Height, AUs: aus})
			longest = max(longest, c.truth.Duration)
		}
		run, err := RunMotionDaemon(ctx, cams, scenes.Seconds(longest+1))
		if err != nil {
			return err
		}
		if run.Dropped > 0 {
			fmt.Fprintf(o.Out, "# the Motion daemon fell behind (%d RTP packets not taken) on %d clips\n", run.Dropped, len(batch))
		}
		for _, c := range batch {
			var dets []scenes.Detection
			for _, d := range run.Motion[c.truth.Name] {
				if d.Start > 0 && d.Start < c.truth.Duration { // the clip proper, first pass
					dets = append(dets, d)
				}
			}
			s := scenes.Match(c.truth, dets, nil)
			s.GlobalWant = 0 // Motion has no scene-change or tamper events
			if o.Verbose {
				fmt.Fprintf(o.Out, "#   motiond %s: %v -> TP %d FP %d delays %v\n", c.truth.Name, dets, s.TruePositives, s.FalsePositive, s.Delays)
			}
			if out[c.truth.Family] == nil {
				out[c.truth.Family] = &scenes.Score{}
			}
			out[c.truth.Family].Add(s)
		}
		batch, budget = nil, 0
		return nil
	}
	for _, c := range clips {
		cost := float64(c.truth.Width*c.truth.Height) / (640 * 360)
		if budget+cost > 4 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		batch = append(batch, c)
		budget += cost
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func printScore(w io.Writer, who, fam string, s *scenes.Score) {
	if s.Truths > 0 {
		fmt.Fprintf(w, "BENCH motion_%s_%s_recall %.3f ratio\n", who, fam, s.Recall())
		fmt.Fprintf(w, "BENCH motion_%s_%s_precision %.3f ratio\n", who, fam, s.Precision())
		fmt.Fprintf(w, "BENCH motion_%s_%s_delay %.2f s\n", who, fam, s.MeanDelay())
	} else {
		fmt.Fprintf(w, "BENCH motion_%s_%s_false_per_hour %.1f events/h\n", who, fam, s.FalsePerHour())
	}
	if s.GlobalWant > 0 || s.GlobalExtra > 0 {
		fmt.Fprintf(w, "BENCH motion_%s_%s_global_found %d/%d events (extra %d)\n", who, fam, s.GlobalHit, s.GlobalWant, s.GlobalExtra)
	}
	if s.GlobalWant > 0 {
		fmt.Fprintf(w, "BENCH motion_%s_%s_global_right_type %.3f ratio\n", who, fam, s.GlobalRight())
		fmt.Fprintf(w, "BENCH motion_%s_%s_global_delay %.2f s\n", who, fam, s.MeanGlobalDelay())
	}
}
