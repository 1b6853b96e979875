// Package clock maps a camera's RTP timestamps onto the box's clock.
//
// The box's clock is the truth. A camera's 32-bit RTP timestamps give the
// fine spacing between pictures, but they drift, wrap around and jump
// (camera reboot, NTP step, reconnect). A Slewer follows the camera's
// spacing while it pulls the result toward the box's elapsed time at a
// bounded rate, and re-anchors on the box's clock when the two disagree by
// more than a threshold. Its output never decreases and never makes a
// negative or giant step.
package clock

import "time"

// Defaults for Config's zero fields.
const (
	DefaultMaxSlew       = 0.01 // 1 %: 10 ms per second of video
	DefaultJumpThreshold = 3 * time.Second
)

// Config tunes a Slewer.
type Config struct {
	// ClockRate is the RTP clock rate in Hz (90000 for video).
	ClockRate int
	// MaxSlew bounds the correction per unit of media time (0.01 = at most
	// 10 ms of correction per second of video). Zero means DefaultMaxSlew.
	MaxSlew float64
	// JumpThreshold: a timestamp step, or a disagreement with the box
	// clock, larger than this re-anchors. Zero means DefaultJumpThreshold.
	JumpThreshold time.Duration
}

// Slewer converts RTP timestamps of one stream into offsets on the box
// clock. It is not safe for concurrent use; one stream, one goroutine.
type Slewer struct {
	rate      int64
	maxSlew   float64
	threshold time.Duration

	started   bool
	lastRTP   uint32
	camTicks  int64         // camera ticks since the anchor, extended past 32 bits
	anchor    time.Duration // output at the anchor
	offset    time.Duration // slew correction accumulated since the anchor
	last      time.Duration // last output
	lastStep  time.Duration // last positive output step, for re-anchoring
	reanchors int
}

// NewSlewer returns a Slewer; a ClockRate ≤ 0 means 90000.
func NewSlewer(c Config) *Slewer {
	s := &Slewer{rate: int64(c.ClockRate), maxSlew: c.MaxSlew, threshold: c.JumpThreshold}
	if s.rate <= 0 {
		s.rate = 90000
	}
	if s.maxSlew <= 0 {
		s.maxSlew = DefaultMaxSlew
	}
	if s.threshold <= 0 {
		s.threshold = DefaultJumpThreshold
	}
	return s
}

// Reanchors counts how often the Slewer gave up on the camera's clock.
func (s *Slewer) Reanchors() int { return s.reanchors }

func (s *Slewer) ticksToDuration(t int64) time.Duration {
	// Split to avoid overflow for large tick counts.
	sec := t / s.rate
	rem := t % s.rate
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(s.rate)
}

// Map returns the offset on the box clock (from the stream's epoch) of a
// picture with RTP timestamp ts that arrived when the box clock had
// advanced by elapsed since the epoch. Results never decrease.
func (s *Slewer) Map(ts uint32, elapsed time.Duration) time.Duration {
	if !s.started {
		s.started = true
		s.lastRTP = ts
		s.anchor = max(elapsed, 0)
		s.last = s.anchor
		return s.last
	}
	d := int64(int32(ts - s.lastRTP)) // wrap-around safe signed step
	s.lastRTP = ts
	step := s.ticksToDuration(d)
	if step > s.threshold || step < -s.threshold {
		return s.reanchor(elapsed)
	}
	s.camTicks += d
	cam := s.anchor + s.ticksToDuration(s.camTicks)
	diff := elapsed - (cam + s.offset)
	if diff > s.threshold || diff < -s.threshold {
		return s.reanchor(elapsed)
	}
	if step < 0 {
		step = -step
	}
	limit := time.Duration(float64(step) * s.maxSlew)
	s.offset += min(max(diff, -limit), limit)
	out := cam + s.offset
	if out < s.last {
		out = s.last
	}
	if out > s.last {
		s.lastStep = out - s.last
	}
	s.last = out
	return out
}

// reanchor trusts the box clock: the output continues at elapsed, but at
// least one picture interval after the previous output.
func (s *Slewer) reanchor(elapsed time.Duration) time.Duration {
	s.reanchors++
	minNext := s.last + max(s.lastStep, time.Millisecond)
	s.anchor = max(elapsed, minNext)
	s.camTicks = 0
	s.offset = 0
	s.last = s.anchor
	return s.last
}
