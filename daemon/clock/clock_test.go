package clock

import (
	"testing"
	"time"
)

const frame = 40 * time.Millisecond // 25 fps
const frameTicks = 3600             // 40 ms at 90 kHz

// feed maps n pictures spaced tickStep on the camera and boxStep on the box.
func feed(s *Slewer, ts uint32, elapsed time.Duration, n int, tickStep uint32, boxStep time.Duration) (uint32, time.Duration, []time.Duration) {
	var out []time.Duration
	for range n {
		out = append(out, s.Map(ts, elapsed))
		ts += tickStep
		elapsed += boxStep
	}
	return ts, elapsed, out
}

func checkMonotonic(t *testing.T, out []time.Duration, maxStep time.Duration) {
	t.Helper()
	for i := 1; i < len(out); i++ {
		d := out[i] - out[i-1]
		if d < 0 {
			t.Fatalf("output %d decreased: %v -> %v", i, out[i-1], out[i])
		}
		if d > maxStep {
			t.Fatalf("output %d stepped %v (> %v): %v -> %v", i, d, maxStep, out[i-1], out[i])
		}
	}
}

func TestSlewer(t *testing.T) {
	for _, tt := range []struct {
		name string
		// run feeds the slewer and returns its outputs and the box elapsed
		// time of the last picture.
		run       func(s *Slewer) ([]time.Duration, time.Duration)
		maxStep   time.Duration
		maxEndErr time.Duration // |last output - box elapsed| at the end
		reanchors int
	}{
		{
			name: "steady stream follows camera spacing",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				_, el, out := feed(s, 1000, 0, 250, frameTicks, frame)
				return out, el - frame
			},
			maxStep: frame, maxEndErr: time.Millisecond,
		},
		{
			name: "wrap-around of the 32-bit clock",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				_, el, out := feed(s, 0xFFFFFFFF-50*frameTicks, 0, 100, frameTicks, frame)
				return out, el - frame
			},
			maxStep: frame, maxEndErr: time.Millisecond,
		},
		{
			name: "camera clock 0.5 % fast is slewed to the box",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				// 60 s: the camera claims 60.3 s.
				_, el, out := feed(s, 7, 0, 1500, frameTicks*1005/1000, frame)
				return out, el - frame
			},
			// 1 % slew on top of 0.5 % drift: steps stay near one frame.
			maxStep: frame * 1025 / 1000, maxEndErr: 5 * time.Millisecond,
		},
		{
			name: "camera clock 0.5 % slow is slewed to the box",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				_, el, out := feed(s, 7, 0, 1500, frameTicks*995/1000, frame)
				return out, el - frame
			},
			maxStep: frame, maxEndErr: 5 * time.Millisecond,
		},
		{
			name: "forward jump of an hour re-anchors on the box clock",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				ts, el, a := feed(s, 1, 0, 50, frameTicks, frame)
				ts += 3600 * 90000
				_, el, b := feed(s, ts, el, 50, frameTicks, frame)
				return append(a, b...), el - frame
			},
			maxStep: frame, maxEndErr: time.Millisecond, reanchors: 1,
		},
		{
			name: "backward jump re-anchors, never goes back",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				ts, el, a := feed(s, 1e9, 0, 50, frameTicks, frame)
				ts -= 600 * 90000
				_, el, b := feed(s, ts, el, 50, frameTicks, frame)
				return append(a, b...), el - frame
			},
			maxStep: frame, maxEndErr: time.Millisecond, reanchors: 1,
		},
		{
			name: "stall with frozen timestamps re-anchors to the box",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				ts, el, a := feed(s, 5, 0, 50, frameTicks, frame)
				// 10 s with no data, then the camera continues as if nothing happened.
				el += 10 * time.Second
				_, el, b := feed(s, ts, el, 50, frameTicks, frame)
				return append(a, b...), el - frame
			},
			maxStep: 10*time.Second + frame, maxEndErr: time.Millisecond, reanchors: 1,
		},
		{
			name: "small backward step (B-frame order) is clamped",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				var out []time.Duration
				for i, ts := range []uint32{0, 7200, 3600, 14400, 10800, 18000} {
					out = append(out, s.Map(ts, time.Duration(i)*frame))
				}
				return out, 5 * frame
			},
			maxStep: 3 * frame, maxEndErr: 2 * frame,
		},
		{
			name: "jittery arrival does not disturb spacing much",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				var out []time.Duration
				ts := uint32(0)
				for i := range 500 {
					jitter := time.Duration((i*7919)%31) * time.Millisecond
					out = append(out, s.Map(ts, time.Duration(i)*frame+jitter))
					ts += frameTicks
				}
				return out, 499 * frame
			},
			maxStep: frame * 102 / 100, maxEndErr: 31 * time.Millisecond,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSlewer(Config{ClockRate: 90000})
			out, end := tt.run(s)
			checkMonotonic(t, out, tt.maxStep)
			if e := out[len(out)-1] - end; e > tt.maxEndErr || e < -tt.maxEndErr {
				t.Errorf("end error %v, want within ±%v", e, tt.maxEndErr)
			}
			if got := s.Reanchors(); got != tt.reanchors {
				t.Errorf("reanchors = %d, want %d", got, tt.reanchors)
			}
		})
	}
}

func TestSlewerFirstOutputIsElapsed(t *testing.T) {
	s := NewSlewer(Config{})
	if got := s.Map(123456, 250*time.Millisecond); got != 250*time.Millisecond {
		t.Fatalf("first output %v, want 250ms", got)
	}
}

func FuzzSlewer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewSlewer(Config{})
		var last time.Duration
		el := time.Duration(0)
		for i := 0; i+4 <= len(b); i += 4 {
			ts := uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
			el += time.Duration(b[i]) * time.Millisecond
			got := s.Map(ts, el)
			if got < last {
				t.Fatalf("decreased %v -> %v", last, got)
			}
			if got-last > 4*time.Second+el {
				t.Fatalf("giant step %v -> %v", last, got)
			}
			last = got
		}
	})
}
