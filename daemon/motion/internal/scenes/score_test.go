package scenes

import (
	"slices"
	"testing"
)

func TestMatch(t *testing.T) {
	truth := Truth{Duration: 60,
		Motion: []Interval{{Start: 10, End: 20, Region: [4]int{0, 0, 100, 100}}, {Start: 30, End: 35, Region: [4]int{200, 200, 300, 300}}},
		Global: []Global{{Type: "tamper", Reason: "covered", At: 40}, {Type: "scene_change", At: 50}},
	}
	for _, tt := range []struct {
		name                 string
		dets                 []Detection
		globals              []GlobalDetection
		tp, fp, hit, extra   int
		delays, globalDelays []float64
	}{
		{name: "nothing reported"},
		{name: "both found, one region-less",
			dets: []Detection{{Start: 30.5, End: 36, Reported: 31, Region: [4]int{250, 250, 260, 260}}, {Start: 9.8, End: 22, Reported: 11}},
			tp:   2, delays: []float64{1, 1}},
		{name: "wrong region, too late, and one detection for two truths",
			dets: []Detection{{Start: 10, End: 20, Reported: 10.5, Region: [4]int{500, 500, 600, 600}}, {Start: 24, End: 26, Reported: 24}, {Start: 12, End: 33, Reported: 12}},
			tp:   1, fp: 2, delays: []float64{2}},
		{name: "reported before the truth: no negative delay",
			dets: []Detection{{Start: 9.6, End: 20, Reported: 9.6}},
			tp:   1, delays: []float64{0}},
		{name: "globals: right, wrong reason, extra, late",
			globals: []GlobalDetection{{Type: "tamper", Reason: "moved", At: 40, Reported: 40}, {Type: "tamper", Reason: "covered", At: 41, Reported: 42},
				{Type: "scene_change", Reason: "lights", At: 57, Reported: 57}, {Type: "scene_change", At: 5, Reported: 5}},
			hit: 1, extra: 3, globalDelays: []float64{2}},
	} {
		s := Match(truth, tt.dets, tt.globals)
		if s.TruePositives != tt.tp || s.FalsePositive != tt.fp || s.GlobalHit != tt.hit || s.GlobalExtra != tt.extra ||
			!slices.Equal(s.Delays, tt.delays) || !slices.Equal(s.GlobalDelays, tt.globalDelays) {
			t.Errorf("%s: %+v", tt.name, s)
		}
		if s.Truths != 2 || s.GlobalWant != 2 || s.Detections != len(tt.dets) || s.Seconds != 60 {
			t.Errorf("%s: counts %+v", tt.name, s)
		}
	}
}
