package motion

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/mbmap"
)

// scene draws synthetic macroblock maps: a noisy background plus whatever
// the test puts on top at each analysed instant.
type scene struct {
	w, h  int
	noise float64 // share of blocks that are inter with small residual
	rng   *rand.Rand
}

func (s *scene) frame(n int) *mbmap.Frame {
	f := &mbmap.Frame{Number: n, SliceType: 'P', WidthMB: s.w, HeightMB: s.h, MBs: make([]mbmap.Macroblock, s.w*s.h)}
	for i := range f.MBs {
		if s.rng.Float64() < s.noise {
			f.MBs[i] = mbmap.Macroblock{Kind: mbmap.Inter, Type: 'P', MVX: int16(s.rng.IntN(3) - 1), Bits: uint16(10 + s.rng.IntN(30))}
		} else {
			f.MBs[i] = mbmap.Macroblock{Kind: mbmap.Skip, Type: 'S', Bits: 1}
		}
	}
	return f
}

// object paints a moving w x h block at x,y.
func object(f *mbmap.Frame, x, y, w, h int) {
	for yy := max(y, 0); yy < min(y+h, f.HeightMB); yy++ {
		for xx := max(x, 0); xx < min(x+w, f.WidthMB); xx++ {
			mb := &f.MBs[yy*f.WidthMB+xx]
			*mb = mbmap.Macroblock{Kind: mbmap.Inter, Type: 'P', MVX: 24, MVY: 4, Bits: 180}
			if (xx+yy)%4 == 0 {
				*mb = mbmap.Macroblock{Kind: mbmap.Intra, Type: 'I', Bits: 300}
			}
		}
	}
}

func fill(f *mbmap.Frame, x0, y0, x1, y1 int, mb mbmap.Macroblock) {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			f.MBs[y*f.WidthMB+x] = mb
		}
	}
}

type recorder struct{ evs []events.Event }

func (r *recorder) Publish(e events.Event) { r.evs = append(r.evs, e) }

// closed returns the final form of each event (the last publication per ID).
func (r *recorder) closed(t events.Type) []events.Event {
	var out []events.Event
	idx := map[string]int{}
	for _, e := range r.evs {
		if e.Type != t {
			continue
		}
		if i, ok := idx[e.ID]; ok {
			out[i] = e
			continue
		}
		idx[e.ID] = len(out)
		out = append(out, e)
	}
	return out
}

var t0 = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)

func TestDetector(t *testing.T) {
	const fps = 5
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second / fps) }
	for _, tt := range []struct {
		name      string
		cfg       Config
		secs      int
		paint     func(i int, f *mbmap.Frame, s *scene) // i counts analysed pictures
		motion    int                                   // motion events wanted
		scene     int                                   // scene change events wanted
		tamper    int
		wantStart time.Time // first motion event starts here (±1 s), if motion > 0
		wantIn    [4]int    // and its region contains this box
		wantText  string
	}{
		{name: "static noisy street", secs: 30, paint: func(int, *mbmap.Frame, *scene) {}},
		{
			name: "object crossing", secs: 20,
			paint: func(i int, f *mbmap.Frame, s *scene) {
				if i >= 50 && i < 75 {
					object(f, (i-50)*2-3, 10, 3, 6)
				}
			},
			motion: 1, wantStart: at(50), wantIn: [4]int{5, 10, 30, 16},
		},
		{
			name: "small object below min area", secs: 20, cfg: Config{MinArea: 12},
			paint: func(i int, f *mbmap.Frame, s *scene) {
				if i >= 50 && i < 75 {
					object(f, 10, 10, 2, 3)
				}
			},
		},
		{
			name: "blip shorter than min duration", secs: 20, cfg: Config{MinDuration: time.Second},
			paint: func(i int, f *mbmap.Frame, s *scene) {
				if i == 50 || i == 51 {
					object(f, 10, 10, 4, 6)
				}
			},
		},
		{
			name: "object inside a mask", secs: 20, cfg: Config{Zones: []Zone{{Name: "tree", X0: 30, Y0: 0, X1: 40, Y1: 22, Mask: true}}},
			paint: func(i int, f *mbmap.Frame, s *scene) {
				if i >= 50 && i < 75 {
					object(f, 32, 5, 4, 6)
				}
			},
		},
		{
			name: "zone named in event", secs: 20, cfg: Config{Zones: []Zone{{Name: "gate", X0: 0, Y0: 0, X1: 20, Y1: 22, Sensitivity: 1.5}}},
			paint: func(i int, f *mbmap.Frame, s *scene) {
				if i >= 50 && i < 60 {
					object(f, 5, 5, 4, 6)
				}
			},
			motion: 1, wantStart: at(50), wantIn: [4]int{5, 5, 9, 11}, wantText: "zone:gate",
		},
		{
			// Light sweeping the street at night: a large, grey, textureless
			// patch the encoder follows with fast vectors and codes as
			// skipped blocks (sweep.go). No event.
			name: "headlights sweep at night", secs: 20,
			paint: func(i int, f *mbmap.Frame, s *scene) {
				if i >= 50 && i < 62 {
					fill(f, max(0, (i-50)*4-6), 4, min(40, (i-50)*4+6), 21, mbmap.Macroblock{Kind: mbmap.Skip, Type: 'S', MVX: 60, Bits: 1})
				}
			},
		},
		{
			// The same size and speed, but a thing: texture (coded
			// residual) and colour.
			name: "car as fast and large as a sweep", secs: 20,
			paint: func(i int, f *mbmap.Frame, s *scene) {
				if i >= 50 && i < 62 {
					fill(f, max(0, (i-50)*4-6), 4, min(40, (i-50)*4+6), 21, mbmap.Macroblock{Kind: mbmap.Inter, Type: 'P', MVX: 60, Bits: 90, CBP: 0x2f})
				}
			},
			motion: 1, wantStart: at(50), wantIn: [4]int{10, 5, 12, 20},
		},
		{
			name: "stop and start", secs: 30,
			paint: func(i int, f *mbmap.Frame, s *scene) {
				switch {
				case i >= 50 && i < 70:
					object(f, 5+(i-50)/2, 8, 3, 7)
				case i >= 95 && i < 115:
					object(f, 15+(i-95)/2, 8, 3, 7)
				}
			},
			motion: 2, wantStart: at(50), wantIn: [4]int{5, 8, 8, 15},
		},
		{
			name: "swaying foliage in a corner", secs: 40,
			paint: func(i int, f *mbmap.Frame, s *scene) {
				for y := 0; y < 6; y++ {
					for x := 0; x < 8; x++ {
						if s.rng.Float64() < 0.6 {
							f.MBs[y*f.WidthMB+x] = mbmap.Macroblock{Kind: mbmap.Inter, Type: 'P', MVX: int16(s.rng.IntN(17) - 8), Bits: uint16(40 + s.rng.IntN(120))}
						}
					}
				}
			},
		},
		{
			name: "switch to infrared grain", secs: 30,
			paint: func(i int, f *mbmap.Frame, s *scene) {
				switch {
				case i == 60:
					fill(f, 0, 0, f.WidthMB, f.HeightMB, mbmap.Macroblock{Kind: mbmap.Intra, Type: 'I', Bits: 400})
				case i > 60:
					for j := range f.MBs {
						f.MBs[j] = mbmap.Macroblock{Kind: mbmap.Inter, Type: 'P', MVX: int16(s.rng.IntN(5) - 2), Bits: uint16(60 + s.rng.IntN(80))}
					}
				}
			},
			scene: 1,
		},
		{
			name: "camera covered", secs: 30,
			paint: func(i int, f *mbmap.Frame, s *scene) {
				switch {
				case i == 60:
					fill(f, 0, 0, f.WidthMB, f.HeightMB, mbmap.Macroblock{Kind: mbmap.Inter, Type: 'P', Bits: 200})
				case i > 60:
					fill(f, 0, 0, f.WidthMB, f.HeightMB, mbmap.Macroblock{Kind: mbmap.Skip, Type: 'S', Bits: 1})
				}
			},
			tamper: 1,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			d, err := New("cam1", "house1", tt.cfg, rec)
			if err != nil {
				t.Fatal(err)
			}
			s := &scene{w: 40, h: 23, noise: 0.15, rng: rand.New(rand.NewPCG(1, 2))}
			n := tt.secs * fps
			for i := 0; i < n; i++ {
				f := s.frame(i)
				tt.paint(i, f, s)
				d.Observe(at(i), f)
			}
			d.Close(at(n))
			mot, sc, ta := rec.closed(events.Motion), rec.closed(events.SceneChange), rec.closed(events.Tamper)
			if len(mot) != tt.motion || len(sc) != tt.scene || len(ta) != tt.tamper {
				t.Fatalf("got %d motion, %d scene change, %d tamper events, want %d, %d, %d: %+v",
					len(mot), len(sc), len(ta), tt.motion, tt.scene, tt.tamper, rec.evs)
			}
			if tt.motion == 0 {
				return
			}
			e := mot[0]
			if delay := e.Start.Sub(tt.wantStart); delay < -time.Second || delay > time.Second {
				t.Errorf("event starts %v after motion, want within 1 s", delay)
			}
			if !e.End.After(e.Start) {
				t.Errorf("event ends %v, not after its start %v", e.End, e.Start)
			}
			r, in := e.Region, tt.wantIn
			if r[0] > in[0] || r[1] > in[1] || r[2] < in[2] || r[3] < in[3] {
				t.Errorf("region %v does not hold %v", r, in)
			}
			if e.Camera != "cam1" || e.Household != "house1" || e.Score <= 0 {
				t.Errorf("event %+v lacks camera, household or score", e)
			}
			if !strings.Contains(e.Text, tt.wantText) {
				t.Errorf("text %q lacks %q", e.Text, tt.wantText)
			}
		})
	}
}

func TestDetectorPublishesOpenEventFirst(t *testing.T) {
	rec := &recorder{}
	d, _ := New("c", "", Config{}, rec)
	s := &scene{w: 40, h: 23, noise: 0.1, rng: rand.New(rand.NewPCG(3, 4))}
	for i := 0; i < 100; i++ {
		f := s.frame(i)
		if i >= 40 && i < 60 {
			object(f, 10, 10, 4, 6)
		}
		d.Observe(t0.Add(time.Duration(i)*200*time.Millisecond), f)
		if i == 45 && !d.Active() {
			t.Errorf("not active 1 s into motion")
		}
	}
	if d.Active() {
		t.Errorf("still active 8 s after motion stopped")
	}
	if len(rec.evs) != 2 || !rec.evs[0].End.IsZero() || rec.evs[1].End.IsZero() || rec.evs[0].ID != rec.evs[1].ID {
		t.Fatalf("want an open then a closed publication of one event, got %+v", rec.evs)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{AnalysisRate: 500}, false},
		{Config{GlobalFraction: 2}, false},
		{Config{Zones: []Zone{{Name: "z", X0: 3, X1: 3, Y1: 1}}}, false},
		{Config{Zones: []Zone{{Name: "z", X1: 3, Y1: 1, Sensitivity: -1}}}, false},
		{Config{MinDuration: -1}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
		}
	}
}

func TestObserveIgnoresBadFrames(t *testing.T) {
	d, _ := New("c", "", Config{}, nil)
	d.Observe(t0, &mbmap.Frame{SliceType: 'P', WidthMB: 4, HeightMB: 4, MBs: make([]mbmap.Macroblock, 3)})
	d.Observe(t0, &mbmap.Frame{SliceType: 'I', WidthMB: 1, HeightMB: 1, MBs: make([]mbmap.Macroblock, 1)})
	d.Observe(t0, &mbmap.Frame{SliceType: 'P', WidthMB: -1, HeightMB: 4})
	if d.w != 0 {
		t.Errorf("a bad frame set the grid to %dx%d", d.w, d.h)
	}
}
