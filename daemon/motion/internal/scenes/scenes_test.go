package scenes

import (
	"strings"
	"testing"
)

func TestTruth(t *testing.T) {
	byName := map[string]Scene{}
	for _, s := range All(640, 360) {
		byName[s.Name] = s
		if !strings.Contains(s.filterGraph(), "[out]") {
			t.Errorf("%s: filter graph has no [out]", s.Name)
		}
	}
	for _, tt := range []struct {
		name   string
		motion [][2]float64
		global []string
	}{
		{"crossing-medium-fast-360p", [][2]float64{{5.04, 6.56}}, nil},
		{"stopstart-person-360p", [][2]float64{{4.04, 7}, {12, 15}}, nil},
		{"irswitch-switch-360p", [][2]float64{{13.04, 16}}, []string{"scene_change"}},
		{"covered-hand-360p", [][2]float64{{4.04, 6.96}}, []string{"tamper"}},
	} {
		s, ok := byName[tt.name]
		if !ok {
			t.Fatalf("no scene %s", tt.name)
		}
		tr := s.Truth()
		if len(tr.Motion) != len(tt.motion) || len(tr.Global) != len(tt.global) {
			t.Fatalf("%s: truth %+v", tt.name, tr)
		}
		for i, m := range tt.motion {
			if got := tr.Motion[i]; got.Start != m[0] || got.End != m[1] || got.Region[2] <= got.Region[0] {
				t.Errorf("%s: interval %d = %+v, want %v", tt.name, i, got, m)
			}
		}
		for i, g := range tt.global {
			if tr.Global[i].Type != g {
				t.Errorf("%s: global %d = %+v, want %s", tt.name, i, tr.Global[i], g)
			}
		}
	}
}
