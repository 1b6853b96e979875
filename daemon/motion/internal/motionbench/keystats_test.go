package motionbench

import (
	"os"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/motion/internal/scenes"
	"github.com/matthan/matthan/hwtest/testenv"
)

// keyStats returns the statistics of every key frame of a scene's clip
// after the first (the encoder's warm-up), by clip second.
func keyStats(t *testing.T, s scenes.Scene) map[float64]motion.KeyStats {
	t.Helper()
	data, err := os.ReadFile(sceneClip(t, s))
	if err != nil {
		t.Fatal(err)
	}
	a := mb.NewAnalyzer()
	var fr mbmap.Frame
	out := map[float64]motion.KeyStats{}
	n := 0
	h264.AccessUnits(data, func(au [][]byte) bool {
		key := false
		for _, nal := range au {
			key = key || h264.NALType(nal) == h264.NALIDRSlice
		}
		if key && n > 0 {
			if err := a.Analyze(au, &fr); err != nil {
				t.Fatalf("picture %d: %v", n, err)
			}
			out[float64(n)/scenes.FPS] = motion.KeyFrameStats(time.Time{}, &fr)
		} else {
			a.Skip(au)
		}
		n++
		return true
	})
	return out
}

// Key-frame statistics on generated clips say what the whole-picture
// detection relies on: a covered lens leaves no texture and takes a low
// QP; infrared leaves no chroma; a blur halves the coefficients; a light
// switched on moves the QP; a street by day keeps them all.
func TestKeyFrameStatsOnScenes(t *testing.T) {
	testenv.LookTool(t, "ffmpeg", "ffmpeg")
	byName := map[string]scenes.Scene{}
	for _, s := range scenes.All(640, 360) {
		byName[s.Name] = s
	}
	day := keyStats(t, byName["keyframe-cover-on-wp-360p"])
	for _, at := range []float64{2, 4, 6, 8} {
		if k := day[at]; k.Detail < 0.5 || k.Chroma < 0.9 || k.Coefs < 20 {
			t.Errorf("street by day at %gs: %+v", at, k)
		}
	}
	if k, d := day[10], day[8]; k.Detail > 0.06 || k.QP > d.QP || k.BitsPerMB > 0.3*d.BitsPerMB {
		t.Errorf("covered at 10s: %+v (before: %+v)", k, d)
	}
	ir := keyStats(t, byName["keyframe-ir-on-wp-360p"])
	if k := ir[12]; k.Chroma > 0.05 {
		t.Errorf("infrared at 12s keeps chroma: %+v", k)
	}
	blur := keyStats(t, byName["defocus-blur-360p"])
	if k, d := blur[10], blur[6]; k.Coefs > 0.55*d.Coefs || k.BitsPerMB > 0.65*d.BitsPerMB {
		t.Errorf("blurred at 10s: %+v (sharp: %+v)", k, d)
	}
	room := keyStats(t, byName["lights-room-wp-360p"])
	if k, d := room[8], room[6]; k.QP < d.QP+4 {
		t.Errorf("light on at 6.5s: QP %.1f after, %.1f before", k.QP, d.QP)
	}
}
