package record_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/internal/faultfs"
	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

const (
	crashEnv     = "MATTHAN_RECORD_CRASH_CHILD"
	crashMaxLoss = 2 * time.Second
	crashSpeed   = 3 // times real time
)

var crashCams = map[string]string{"a": "moving-360p.h264", "b": "static-360p.h264"}

// TestCrashChild is the process TestCrashRecovery kills: it records two
// cameras at crashSpeed times real time and reports on fd 3 every create
// and fsync (for the power-cut simulation) and every access unit fed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashRecovery")
	}
	report := os.NewFile(3, "report")
	ffs := faultfs.New(nil)
	ffs.Report = report
	ctx := context.Background()
	st, err := storage.Open(ctx, dir, storage.Options{FS: ffs, MinFreeBytes: 1})
	if err != nil {
		fmt.Fprintf(report, "error %v\n", err)
		t.Fatal(err)
	}
	fmt.Fprintf(report, "ready\n")
	var wg sync.WaitGroup
	for cam, name := range crashCams {
		clip := recordtest.LoadClip(t, name)
		wg.Go(func() {
			rec := record.New(st, cam, record.Options{SegmentDuration: 2 * time.Second, MaxLoss: crashMaxLoss})
			s := clip.Stream
			s.Camera = cam
			// The box clock never goes back for a camera (ingest slews it):
			// start after what earlier rounds recorded ahead of real time.
			s.Epoch = time.Now()
			if segs := st.Segments(cam, time.Time{}, time.Time{}); len(segs) > 0 {
				s.Epoch = later(s.Epoch, segs[len(segs)-1].End.Add(time.Second))
			}
			rec.StreamStarted(s)
			frame := time.Second / time.Duration(clip.FPS)
			for n := 0; ; n++ {
				au := clip.AUs[n%len(clip.AUs)]
				au.DTS = time.Duration(n) * frame
				au.PTS = au.DTS
				rec.WriteAccessUnit(&au)
				fmt.Fprintf(report, "fed %s %d\n", cam, s.Epoch.Add(au.DTS+frame).UnixNano())
				time.Sleep(frame / crashSpeed)
			}
		})
	}
	wg.Wait()
}

// TestCrashRecovery kills a recording process at random moments, 20 times
// in a row; every other time it also throws away what was not fsynced (a
// power cut). After each, start-up repair must leave: every segment
// playable (ffprobe), the index agreeing with the files, and at most
// MaxLoss of each camera's video lost.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip()
	}
	for _, name := range crashCams {
		recordtest.LoadClip(t, name) // skip early when clips are missing
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	if d := os.Getenv("MATTHAN_CRASH_KEEP"); d != "" {
		dir = d // keep the data for a post-mortem
	}
	verified := map[string]int64{}
	worst := map[bool]time.Duration{} // by power cut
	defer func() { t.Logf("largest loss: %v after SIGKILL, %v after a power cut", worst[false], worst[true]) }()
	const rounds = 20
	for round := range rounds {
		powerCut := round%2 == 1
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		cmd.ExtraFiles = []*os.File{pw}
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		durable := faultfs.NewDurable()
		firstFed, lastFed := map[string]int64{}, map[string]int64{}
		ready := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				var cam string
				var ns int64
				switch {
				case line == "ready":
					close(ready)
				case strings.HasPrefix(line, "fed "):
					fmt.Sscanf(line, "fed %s %d", &cam, &ns)
					if firstFed[cam] == 0 {
						firstFed[cam] = ns
					}
					lastFed[cam] = ns
				default:
					durable.Line(line)
				}
			}
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: child not ready: %s", round, stderr.String())
		}
		time.Sleep(time.Duration(100+rng.IntN(1400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		<-done
		pr.Close()
		if powerCut {
			if err := durable.PowerCut(); err != nil {
				t.Fatal(err)
			}
		}

		st, err := storage.Open(context.Background(), dir, storage.Options{MinFreeBytes: 1, Logf: func(f string, a ...any) { t.Logf("round %d: "+f, append([]any{round}, a...)...) }})
		if err != nil {
			t.Fatalf("round %d: open after crash: %v", round, err)
		}
		checkIndexAgrees(t, st, dir, verified)
		for cam := range crashCams {
			if lastFed[cam]-firstFed[cam] <= int64(crashMaxLoss) {
				continue // killed before the first fragment was due
			}
			segs := st.Segments(cam, time.Time{}, time.Time{})
			if len(segs) == 0 {
				t.Errorf("round %d: camera %s has no segments", round, cam)
				continue
			}
			last := segs[len(segs)-1]
			fed := time.Unix(0, lastFed[cam])
			loss := fed.Sub(last.End)
			worst[powerCut] = max(worst[powerCut], loss)
			if loss > crashMaxLoss || loss < 0 {
				t.Errorf("round %d (power cut %v): camera %s lost %v (fed until %v, recorded until %v), bound %v",
					round, powerCut, cam, loss, fed.UTC(), last.End, crashMaxLoss)
			}
		}
		st.Close()
	}
}

// checkIndexAgrees compares the index with the files on disk and has
// ffprobe judge every segment not judged before.
func checkIndexAgrees(t *testing.T, st *storage.Store, dir string, verified map[string]int64) {
	t.Helper()
	indexed := map[string]storage.Segment{}
	for _, cam := range st.Cameras() {
		for _, seg := range st.Segments(cam, time.Time{}, time.Time{}) {
			indexed[st.Path(seg)] = seg
		}
	}
	onDisk := map[string]int64{}
	filepath.WalkDir(filepath.Join(dir, "recordings"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".mp4") {
			fi, _ := d.Info()
			onDisk[p] = fi.Size()
		}
		return nil
	})
	for p, size := range onDisk {
		seg, ok := indexed[p]
		if !ok {
			t.Errorf("file %s (%d bytes) not in the index", p, size)
			continue
		}
		if seg.Bytes != size {
			t.Errorf("%s: %d bytes on disk, index says %d", p, size, seg.Bytes)
		}
	}
	type job struct {
		p       string
		seg     storage.Segment
		samples int
	}
	var jobs []job
	for p, seg := range indexed {
		size, ok := onDisk[p]
		if !ok {
			t.Errorf("index row %s has no file", seg.File)
			continue
		}
		if verified[p] == size {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		l, err := fmp4.ScanSegment(f, size)
		f.Close()
		if err != nil || l.ValidSize != size || l.TailErr != nil {
			t.Errorf("%s: scan: %v, valid %d of %d, tail %v", seg.File, err, l.ValidSize, size, l.TailErr)
			continue
		}
		samples := 0
		for _, fr := range l.Fragments {
			samples += len(fr.Samples)
		}
		dur := time.Duration(l.Duration() * uint64(time.Second) / fmp4.Timescale)
		if d := seg.End.Sub(seg.Start) - dur; d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("%s: index duration %v, file %v", seg.File, seg.End.Sub(seg.Start), dur)
		}
		verified[p] = size
		jobs = append(jobs, job{p, seg, samples})
	}
	// ffprobe decodes every frame: the judge that each segment plays.
	var wg sync.WaitGroup
	ch := make(chan job)
	for range 2 {
		wg.Go(func() {
			for j := range ch {
				pr := recordtest.FFprobe(t, j.p)
				if pr.Frames != j.samples {
					t.Errorf("%s: ffprobe counts %d frames, file has %d samples", j.seg.File, pr.Frames, j.samples)
				}
				if pr.Errors != "" {
					t.Errorf("%s: ffprobe: %s", j.seg.File, pr.Errors)
				}
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
