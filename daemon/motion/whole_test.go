package motion

import (
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/mbmap"
)

// A street by day as the key frames of daemon/motion/internal/scenes measure it
// (360p, libx264 main, 512 kb/s).
var dayStreet = KeyStats{BitsPerMB: 280, QP: 26, Detail: 0.9, Chroma: 0.99, Coefs: 42}

func TestClassifyKeyFrame(t *testing.T) {
	for _, tt := range []struct {
		name     string
		k        KeyStats
		changing bool
		typ      events.Type
		reason   string
	}{
		{"same street", KeyStats{BitsPerMB: 265, QP: 26.3, Detail: 0.86, Chroma: 0.99, Coefs: 39}, false, "", ""},
		{"covered", KeyStats{BitsPerMB: 10, QP: 14.9, Detail: 0.013, Chroma: 0.23, Coefs: 1.1}, true, events.Tamper, events.ReasonCovered},
		{"covered, no change seen before", KeyStats{BitsPerMB: 10, QP: 14.9, Detail: 0.013, Chroma: 0.23, Coefs: 1.1}, false, events.Tamper, events.ReasonCovered},
		{"infrared on", KeyStats{BitsPerMB: 340, QP: 33, Detail: 0.33, Chroma: 0.01, Coefs: 66}, false, events.SceneChange, reasonDayNight},
		{"blurred, crept in", KeyStats{BitsPerMB: 121, QP: 14.4, Detail: 0.97, Chroma: 0.49, Coefs: 16}, false, events.Tamper, events.ReasonDefocused},
		{"room light on", KeyStats{BitsPerMB: 284, QP: 19, Detail: 0.91, Chroma: 0.99, Coefs: 42}, true, events.SceneChange, events.ReasonLights},
		{"darker at once is a light, not a blur", KeyStats{BitsPerMB: 121, QP: 14.4, Detail: 0.97, Chroma: 0.49, Coefs: 16}, true, events.SceneChange, events.ReasonLights},
	} {
		typ, reason := classify(tt.k, dayStreet, tt.changing)
		if typ != tt.typ || reason != tt.reason {
			t.Errorf("%s: %q %q, want %q %q", tt.name, typ, reason, tt.typ, tt.reason)
		}
	}
}

// keyFrame makes a key frame's map with the given figures per block.
func keyFrame(w, h int, bits uint16, qp uint8, detailed, chroma bool, coefs uint16) *mbmap.Frame {
	f := &mbmap.Frame{SliceType: 'I', WidthMB: w, HeightMB: h, MBs: make([]mbmap.Macroblock, w*h)}
	for i := range f.MBs {
		m := &f.MBs[i]
		m.Kind, m.Type, m.Bits, m.QP, m.Coefs = mbmap.Intra, 'I', bits+uint16(i%7), qp, coefs
		if detailed {
			m.Type = 'i'
		}
		if chroma {
			m.CBP = 0x20
		}
	}
	return f
}

// A change that falls exactly on a key frame, with P pictures after it
// all-skip (weighted prediction), is found from the key frames alone: one
// odd key frame is not enough (the encoder's), the second confirms, and
// the event starts at the first. A switch of the box's own IR LEDs just
// before makes the event the box's, not an alarm.
func TestKeyFrameChangeOutOfTheBlue(t *testing.T) {
	for _, box := range []bool{false, true} {
		var got []events.Event
		d, err := New("cam", "", Config{}, events.PublisherFunc(func(e events.Event) { got = append(got, e) }))
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
		if box {
			d.LightsSwitched(at(9.9))
		}
		skip := &mbmap.Frame{SliceType: 'P', WidthMB: 40, HeightMB: 23, MBs: make([]mbmap.Macroblock, 40*23)}
		for i := 0; i < 100; i++ {
			s := float64(i) / 5
			if i%10 != 0 {
				d.Observe(at(s), skip)
				continue
			}
			if s < 10 { // day: colour, texture
				d.Observe(at(s), keyFrame(40, 23, 280, 26, true, true, 40))
			} else { // infrared: grey
				d.Observe(at(s), keyFrame(40, 23, 300, 33, false, false, 40))
			}
		}
		if len(got) == 0 {
			t.Fatalf("box %v: no event for a day/night switch on a key frame", box)
		}
		e := got[len(got)-1]
		if e.Type != events.SceneChange || e.Reason != events.ReasonLights || !e.Start.Equal(at(10)) {
			t.Errorf("box %v: %+v, want a scene change (lights) from 10 s", box, e)
		}
		for _, e := range got {
			if e.Type == events.Motion {
				t.Errorf("box %v: day/night reported as motion: %+v", box, e)
			}
		}
		if (e.Cause == events.CauseBox) != box {
			t.Errorf("box %v: cause %q", box, e.Cause)
		}
	}
}

// Zones drawn on the main stream's grid land on the sub stream's, and
// regions come back on the main's.
func TestGridScaling(t *testing.T) {
	d, err := New("cam", "", Config{Zones: []Zone{{Name: "gate", X0: 60, Y0: 34, X1: 120, Y1: 68, Mask: true}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.SetGrid(120, 68) // 1080p main
	d.ObserveActivity(time.Now(), 40, 23, make([]float32, 40*23), false)
	if d.thresh[0] == 0 || d.thresh[22*40+39] != 0 || d.thresh[11*40+19] == 0 || d.thresh[12*40+20] != 0 {
		t.Errorf("mask of the main's bottom-right quarter not on the sub's: %v %v %v %v", d.thresh[0], d.thresh[22*40+39], d.thresh[11*40+19], d.thresh[12*40+20])
	}
	if r := d.toGrid([4]int{10, 5, 20, 10}); r != [4]int{30, 14, 60, 30} {
		t.Errorf("region on the main grid %v", r)
	}
}

// The weights of weighted prediction: a light switched on in one
// picture starts a whole-picture change; x264's small offsets on a dusk
// fade do not.
func TestWeightsBrightnessJump(t *testing.T) {
	d, _ := New("cam", "", Config{}, nil)
	t0 := time.Now()
	d.ObserveActivity(t0, 40, 23, make([]float32, 40*23), false)
	for i := 0; i < 50; i++ {
		off := int16(0) // as x264 weighs the dusk scene: +1 or -3 on every fourth picture
		if i%4 == 0 {
			off = int16(1 - 4*(i/4%2))
		}
		d.ObserveHeader(t0.Add(time.Duration(i)*40*time.Millisecond), &mbmap.Frame{SliceType: 'P', Weights: mbmap.Weights{Present: true, Luma: true, LumaScale: 1, LumaOffset: off}})
	}
	if d.globalOn {
		t.Fatal("dusk's small offsets started a whole-picture change")
	}
	d.ObserveHeader(t0.Add(3*time.Second), &mbmap.Frame{SliceType: 'P', Weights: mbmap.Weights{Present: true, Luma: true, LumaScale: 2.2, LumaOffset: 38}})
	if !d.globalOn || d.lightsAt.IsZero() {
		t.Fatal("a light switched on did not start a whole-picture change")
	}
}

// A P picture coded afresh (many times the size of the recent ones, and
// half a key frame's) starts a whole-picture change even without weighted
// prediction; a picture twice the size (something large crossing) does
// not, nor the first P picture after a key frame, nor a noisy night's
// swing (many times the recent ones, far from a key frame's size).
func TestPictureSizeJump(t *testing.T) {
	d, _ := New("cam", "", Config{}, nil)
	t0 := time.Now()
	d.ObserveActivity(t0, 40, 23, make([]float32, 40*23), false)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 80 * time.Millisecond) } // past the first relearning
	for i := 1; i < 40; i++ {
		d.ObserveHeader(at(i), &mbmap.Frame{SliceType: 'P', Bytes: 1000 + 37*(i%5)})
	}
	d.ObserveHeader(at(40), &mbmap.Frame{SliceType: 'P', Bytes: 2100})
	d.ObserveHeader(at(41), &mbmap.Frame{SliceType: 'I', Bytes: 30000})
	d.ObserveHeader(at(42), &mbmap.Frame{SliceType: 'P', Bytes: 9000})
	if d.globalOn {
		t.Fatal("a picture twice the size, or the first P after a key frame, started a whole-picture change")
	}
	d.ObserveHeader(at(43), &mbmap.Frame{SliceType: 'P', Bytes: 12000})
	if d.globalOn {
		t.Fatal("a P picture 12 times the recent ones' size but not half a key frame's started a whole-picture change")
	}
	d.ObserveHeader(at(44), &mbmap.Frame{SliceType: 'P', Bytes: 16000})
	if !d.globalOn {
		t.Fatal("a P picture 16 times the size of the recent ones, half a key frame's, did not start a whole-picture change")
	}
}

// Key frames whose size and QP look like the scene's are analysed only
// every keyRefresh; one of another size or QP at once.
func TestWantKeyFrame(t *testing.T) {
	d, _ := New("cam", "", Config{}, nil)
	t0 := time.Now()
	want := 0
	for i := 0; i < 20; i++ {
		at := t0.Add(time.Duration(i) * 2 * time.Second)
		hdr := &mbmap.Frame{SliceType: 'I', Bytes: 30000 + 500*(i%3), QP: 26}
		if d.WantKeyFrame(at, hdr) {
			want++
			d.Observe(at, keyFrame(40, 23, 280, 26, true, true, 40))
		} else {
			d.ObserveHeader(at, hdr)
		}
	}
	if want < 3+3 || want > 3+5 {
		t.Errorf("%d of 20 steady key frames analysed, want the first 3 and one in %d", want, keyRefresh)
	}
	at := t0.Add(40 * time.Second)
	if !d.WantKeyFrame(at, &mbmap.Frame{SliceType: 'I', Bytes: 30000, QP: 33}) {
		t.Error("a key frame with QP 33 among QP 26 ones not analysed")
	}
	if !d.WantKeyFrame(at.Add(2*time.Second), &mbmap.Frame{SliceType: 'I', Bytes: 1100, QP: 26}) {
		t.Error("a key frame of 1100 bytes among 30000-byte ones not analysed")
	}
}
