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

// jump feeds 50 frames from timestamp start, moves the camera's clock by
// ticks (back when negative), then feeds 50 more.
func jump(start uint32, ticks int64) func(*Slewer) ([]time.Duration, time.Duration) {
	return func(s *Slewer) ([]time.Duration, time.Duration) {
		ts, el, a := feed(s, start, 0, 50, frameTicks, frame)
		_, el, b := feed(s, ts+uint32(ticks), el, 50, frameTicks, frame)
		return append(a, b...), el - frame
	}
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
			name: "camera clock 500 ppm fast is slewed to the box",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				// 5 minutes: the camera claims 150 ms more.
				_, el, out := feed(s, 7, 0, 7500, frameTicks*10005/10000, frame)
				return out, el - frame
			},
			// Within the dead band plus what the 2 s windows lag.
			maxStep: frame + frame/500, maxEndErr: DefaultDeadBand + 5*time.Millisecond,
		},
		{
			name: "camera clock 500 ppm slow is slewed to the box",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				_, el, out := feed(s, 7, 0, 7500, frameTicks*9995/10000, frame)
				return out, el - frame
			},
			maxStep: frame + frame/500, maxEndErr: DefaultDeadBand + 5*time.Millisecond,
		},
		{
			name:    "forward jump of an hour re-anchors on the box clock",
			run:     jump(1, 3600*90000),
			maxStep: frame, maxEndErr: time.Millisecond, reanchors: 1,
		},
		{
			name:    "backward jump re-anchors, never goes back",
			run:     jump(1e9, -600*90000),
			maxStep: frame, maxEndErr: time.Millisecond, reanchors: 1,
		},
		{
			name: "stall with frozen timestamps re-anchors to the box",
			run: func(s *Slewer) ([]time.Duration, time.Duration) {
				ts, el, a := feed(s, 5, 0, 50, frameTicks, frame)
				// 10 s with no data, then the camera continues as if nothing
				// happened; the windows see it within two of them (10 s).
				el += 10 * time.Second
				_, el, b := feed(s, ts, el, 300, frameTicks, frame)
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
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSlewer(Config{ClockRate: 90000})
			out, end := tt.run(s)
			checkMonotonic(t, out, tt.maxStep)
			if e := out[len(out)-1] - end; e > tt.maxEndErr || e < -tt.maxEndErr {
				t.Errorf("end error %v, want within ±%v", e, tt.maxEndErr)
			}
			if got := s.reanchors; got != tt.reanchors {
				t.Errorf("reanchors = %d, want %d", got, tt.reanchors)
			}
		})
	}
}

// A backlog (the box was busy for 3.5 s, then reads everything at once)
// keeps the camera's spacing and needs no re-anchoring.
func TestSlewerBacklog(t *testing.T) {
	s := NewSlewer(Config{})
	var out []time.Duration
	ts := uint32(77)
	el := time.Duration(0)
	for i := range 300 {
		if i >= 100 && i < 188 {
			el = 100*frame + 3500*time.Millisecond // all of them read at once
		} else {
			el = time.Duration(i) * frame
		}
		out = append(out, s.Map(ts, el))
		ts += frameTicks
	}
	for i := 1; i < len(out); i++ {
		if out[i]-out[i-1] != frame {
			t.Fatalf("picture %d: step %v, want %v", i, out[i]-out[i-1], frame)
		}
	}
	if s.reanchors != 0 {
		t.Fatalf("%d re-anchors, want 0", s.reanchors)
	}
}

// A camera whose clock runs ahead of the box by more than the threshold
// is brought back quickly (outputs cannot go back in time).
func TestSlewerCameraAhead(t *testing.T) {
	s := NewSlewer(Config{})
	ts := uint32(0)
	var last time.Duration
	const n = 15000 // 10 minutes
	for i := range n {
		// The camera's clock runs 1 % fast: 40.4 ms per 40 ms picture,
		// more than the normal slew can take back.
		got := s.Map(ts, time.Duration(i)*frame)
		if i > 0 && (got-last <= 0 || got-last > 2*frame) {
			t.Fatalf("picture %d: step %v", i, got-last)
		}
		last = got
		ts += frameTicks * 101 / 100
	}
	if e := last - (n-1)*frame; e > DefaultJumpThreshold+time.Second {
		t.Fatalf("after 10 minutes the output is %v ahead of the box clock", e)
	}
}

// Arrival jitter (network, batched socket reads) must not move the
// pictures: a camera that keeps time gets exactly its own spacing.
func TestSlewerIgnoresJitter(t *testing.T) {
	s := NewSlewer(Config{})
	var last time.Duration
	ts := uint32(0)
	for i := range 1500 {
		// Up to 150 ms late, in bursts of four pictures.
		jitter := time.Duration((i/4*7919)%151) * time.Millisecond
		got := s.Map(ts, time.Duration(i)*frame+jitter)
		if i > 0 && got-last != frame {
			t.Fatalf("picture %d: step %v, want exactly %v", i, got-last, frame)
		}
		last = got
		ts += frameTicks
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

// A forward step of the box's clock moves the outputs at once by the step,
// keeping the camera's spacing; a backward one is ignored (outputs never
// decrease).
func TestSlewerStep(t *testing.T) {
	s := NewSlewer(Config{})
	ts, elapsed, out := feed(s, 1000, 0, 50, frameTicks, frame)
	last := out[len(out)-1]
	const step = 90 * time.Minute
	s.Step(step)
	elapsed += step
	_, _, after := feed(s, ts, elapsed, 50, frameTicks, frame)
	if d := after[0] - last; d != step+frame {
		t.Errorf("first picture after the step moved %v, want %v", d, step+frame)
	}
	checkMonotonic(t, after, frame+time.Millisecond)
	if s.reanchors != 0 {
		t.Errorf("%d re-anchors, want none (the step was told)", s.reanchors)
	}
	s.Step(-time.Hour)
	if got := s.Map(ts+50*frameTicks, elapsed+50*frame-time.Hour); got < after[len(after)-1] {
		t.Errorf("output went back after a backward step: %v < %v", got, after[len(after)-1])
	}
}
