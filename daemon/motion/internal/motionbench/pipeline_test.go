package motionbench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/motion/internal/scenes"
	"github.com/matthan/matthan/hwtest/testenv"
)

// TestPipelineCostPrints runs the pipeline benchmark on the pair's clips
// (made once into out/scenes, as make motion-scenes does) and checks it
// prints its figures (3 s of video, once).
func TestPipelineCostPrints(t *testing.T) {
	testenv.LookTool(t, "ffmpeg", "ffmpeg")
	m, s := scenes.Pair()
	mp, sp := sceneClip(t, m), sceneClip(t, s)
	var out bytes.Buffer
	if err := PipelineCost(t.Context(), &out, mp, sp, 0, 3, 1); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{"BENCH pipeline_wakeup_baseline ", "BENCH pipeline_cpu_per_camera ", "BENCH pipeline_record_only_cpu_per_camera ", "BENCH pipeline_cpu_ratio_over_record_only "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
}
