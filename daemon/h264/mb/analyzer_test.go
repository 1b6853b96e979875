package mb_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/hwtest/testenv"
)

func readAUs(t testing.TB, path string) [][][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	h264.AccessUnits(data, func(au [][]byte) bool {
		aus = append(aus, append([][]byte(nil), au...))
		return true
	})
	return aus
}

func clip(t testing.TB, name string) string {
	t.Helper()
	return testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "h264", name), "make h264-clips")
}

// TestDesyncRecovers corrupts one picture's slice data: that picture gives
// an error (never a silently wrong map) and the next pictures parse as if
// nothing happened.
func TestDesyncRecovers(t *testing.T) {
	for _, name := range []string{"main-360p-bf0.h264", "baseline-360p-gop10.h264", "high-360p-bf0-crf18.h264"} {
		aus := readAUs(t, clip(t, name))
		const bad = 3
		ref := mb.NewAnalyzer()
		var want []mbmap.Frame
		for _, au := range aus[:bad+3] {
			var f mbmap.Frame
			if err := ref.Analyze(au, &f); err != nil {
				t.Fatalf("%s: clean stream: %v", name, err)
			}
			want = append(want, f)
		}
		detected := 0
		const trials = 10
		for trial := 0; trial < trials; trial++ {
			a := mb.NewAnalyzer()
			for i, au := range aus[:bad+3] {
				if i == bad {
					au = corrupt(au, trial)
				}
				var f mbmap.Frame
				err := a.Analyze(au, &f)
				switch {
				case i == bad && err != nil:
					detected++
				case i == bad:
					// A corruption may still parse (it changed a value, not
					// the syntax); the map then differs but is well formed.
				case err != nil:
					t.Fatalf("%s trial %d: picture %d after the corrupt one: %v", name, trial, i, err)
				case i > bad:
					for j := range f.MBs {
						if f.MBs[j] != want[i].MBs[j] {
							t.Fatalf("%s trial %d: picture %d macroblock %d differs after a corrupt picture", name, trial, i, j)
						}
					}
				}
			}
		}
		if detected < trials/2 {
			t.Errorf("%s: only %d of %d corruptions detected", name, detected, trials)
		}
	}
}

// corrupt flips bytes in the middle of the access unit's largest slice.
func corrupt(au [][]byte, seed int) [][]byte {
	out := make([][]byte, len(au))
	big := 0
	for i, n := range au {
		out[i] = n
		if len(n) > len(au[big]) {
			big = i
		}
	}
	n := append([]byte(nil), au[big]...)
	pos := len(n)/4 + seed*len(n)/40
	for k := 0; k < 4 && pos+k < len(n); k++ {
		n[pos+k] ^= byte(0x5a + seed*7 + k)
	}
	out[big] = n
	return out
}

func TestUnsupportedStreams(t *testing.T) {
	for _, name := range []string{"unsupported-422.h264", "unsupported-interlaced.h264", "unsupported-10bit.h264"} {
		aus := readAUs(t, clip(t, name))
		a := mb.NewAnalyzer()
		for i, au := range aus {
			var f mbmap.Frame
			if err := a.Analyze(au, &f); !errors.Is(err, h264.ErrUnsupported) {
				t.Errorf("%s picture %d: got %v, want an error wrapping h264.ErrUnsupported", name, i, err)
			}
		}
	}
}

func TestNoPicture(t *testing.T) {
	a := mb.NewAnalyzer()
	var f mbmap.Frame
	if err := a.Analyze([][]byte{{0x09, 0x10}}, &f); !errors.Is(err, mb.ErrNoPicture) {
		t.Fatalf("got %v, want ErrNoPicture", err)
	}
	// A slice before any parameter set.
	if err := a.Analyze([][]byte{{0x65, 0x88, 0x84}}, &f); err == nil {
		t.Fatal("slice without parameter sets: want an error")
	}
}

// BenchmarkAnalyze measures the parse rate of P pictures of camera-like
// streams in macroblocks per second.
func BenchmarkAnalyze(b *testing.B) {
	for _, bc := range []struct{ name, file string }{
		{"360p", "bench-360p-main.h264"},
		{"1080p", "bench-1080p-high.h264"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			aus := readAUs(b, clip(b, bc.file))
			a := mb.NewAnalyzer()
			var f mbmap.Frame
			var ps [][][]byte
			for _, au := range aus {
				if err := a.Analyze(au, &f); err != nil {
					b.Fatal(err)
				}
				if f.SliceType == 'P' {
					ps = append(ps, au)
				}
			}
			if len(ps) == 0 {
				b.Fatal("no P pictures")
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			mbs := 0
			for i := 0; i < b.N; i++ {
				if err := a.Analyze(ps[i%len(ps)], &f); err != nil {
					b.Fatal(err)
				}
				mbs += len(f.MBs)
			}
			// The rate is per second of CPU time used by the process: on a
			// machine shared with other work the wall clock overstates the
			// cost, and the cost per camera is CPU time.
			b.ReportMetric(float64(mbs)/(cpuTime()-cpu0).Seconds(), "macroblocks/s")
			b.ReportMetric(float64(mbs)/b.Elapsed().Seconds(), "macroblocks/wall-s")
		})
	}
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMotionVectorsOfAPan checks the vectors on a picture panning by
// (4, 2) pixels per frame: the P pictures' macroblocks (skipped ones
// included, whose vector is predicted) move by k*(16, 8) quarter pixels
// when their reference picture is k frames away (k = 1 without B-frames),
// and so do the direct-predicted macroblocks of B pictures (spatial and
// temporal direct, vectors derived from the co-located picture).
func TestMotionVectorsOfAPan(t *testing.T) {
	for _, name := range []string{"pan-baseline-cavlc.h264", "pan-main-cabac.h264", "pan-high-bf2.h264", "pan-main-temporal.h264"} {
		aus := readAUs(t, clip(t, name))
		a := mb.NewAnalyzer()
		var f mbmap.Frame
		moving, exact, pictures := 0, 0, 0
		for i, au := range aus {
			if err := a.Analyze(au, &f); err != nil {
				t.Fatalf("%s picture %d: %v", name, i, err)
			}
			if f.SliceType == 'I' {
				continue
			}
			pictures++
			for y := 1; y < f.HeightMB-1; y++ { // the picture's edges show new content
				for x := 1; x < f.WidthMB-1; x++ {
					m := f.MBs[y*f.WidthMB+x]
					if m.Kind != mbmap.Inter && m.Kind != mbmap.Skip {
						continue
					}
					if f.SliceType == 'B' && m.Type != 'd' && m.Type != 'D' {
						continue // list-1-only blocks have no list-0 vector
					}
					moving++
					if m.MVX > 0 && m.MVX%16 == 0 && m.MVX == 2*m.MVY {
						exact++
					}
				}
			}
		}
		if pictures == 0 || moving == 0 {
			t.Fatalf("%s: no inter macroblocks in P pictures", name)
		}
		if exact*100 < moving*95 {
			t.Errorf("%s: %d of %d inter macroblocks move by k*(16,8), want at least 95%%", name, exact, moving)
		}
		t.Logf("%s: %d of %d inter macroblocks of %d P and B pictures move by k*(16,8)", name, exact, moving, pictures)
	}
}
