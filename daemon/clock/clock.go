// Package clock maps a camera's RTP timestamps onto the box's clock.
//
// The box's clock is the truth. A camera's 32-bit RTP timestamps give the
// exact spacing between pictures, but the camera's clock drifts, and its
// timestamps wrap around and jump (camera reboot, NTP step, reconnect). A
// Slewer keeps the camera's spacing while it pulls the result toward the
// box's clock at a bounded rate, and re-anchors on the box's clock when the
// two disagree by more than a threshold. Its output never decreases and
// never makes a negative or giant step.
//
// The error it corrects is not a picture's arrival time, which jitters with
// the network and with batched socket reads, but the smallest delay seen
// over the last 5 to 10 seconds: the camera's clock as seen through the fastest
// path. Inside a dead band no correction is made at all, so a camera whose
// clock keeps time gets its pictures spaced exactly as it sent them (a
// player, or ffmpeg, sees a constant frame rate).
package clock

import (
	"math"
	"time"

	"github.com/matthan/matthan/daemon/positive"
)

// Defaults for Config's zero fields.
const (
	DefaultMaxSlew       = 0.001 // 1000 ppm: at most 1 ms of correction per second of video
	DefaultDeadBand      = 100 * time.Millisecond
	DefaultJumpThreshold = 3 * time.Second
	// delayWindow is the length of each of the two windows over which the
	// smallest delay is taken: a backlog shorter than this (the box was
	// busy) never moves the pictures.
	delayWindow = 5 * time.Second
	// fastSlew closes an error beyond the jump threshold when the camera is
	// ahead of the box (5 %: 2 ms per picture at 25 fps).
	fastSlew = 0.05
)

// Config tunes a Slewer.
type Config struct {
	// ClockRate is the RTP clock rate in Hz (90000 for video).
	ClockRate int
	// MaxSlew bounds the correction per unit of media time (0.001 = at most
	// 1 ms per second of video). Zero means DefaultMaxSlew.
	MaxSlew float64
	// DeadBand: errors smaller than this are left alone. Zero means
	// DefaultDeadBand.
	DeadBand time.Duration
	// JumpThreshold: a timestamp step, or a disagreement with the box
	// clock, larger than this re-anchors. Zero means DefaultJumpThreshold.
	JumpThreshold time.Duration
}

// Slewer converts RTP timestamps of one stream into offsets on the box
// clock. It is not safe for concurrent use; one stream, one goroutine.
type Slewer struct {
	rate      int64
	maxSlew   float64
	deadBand  time.Duration
	threshold time.Duration

	started  bool
	lastRTP  uint32
	camTicks int64         // camera ticks since the anchor, extended past 32 bits
	anchor   time.Duration // output at the anchor
	offset   time.Duration // slew correction accumulated since the anchor
	last     time.Duration // last output
	lastStep time.Duration // last positive output step, for re-anchoring

	// Smallest (box elapsed - output) in the current and the previous window.
	minCur, minPrev time.Duration
	winStart        time.Duration // output at the start of the current window

	reanchors int
}

// NewSlewer returns a Slewer; a ClockRate ≤ 0 means 90000.
func NewSlewer(c Config) *Slewer {
	s := &Slewer{rate: int64(c.ClockRate), maxSlew: c.MaxSlew, deadBand: c.DeadBand, threshold: c.JumpThreshold}
	s.rate = positive.Or(s.rate, 90000)
	s.maxSlew = positive.Or(s.maxSlew, DefaultMaxSlew)
	s.deadBand = positive.Or(s.deadBand, DefaultDeadBand)
	s.threshold = positive.Or(s.threshold, DefaultJumpThreshold)
	return s
}

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
		return s.reanchorAt(max(elapsed, 0))
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

	// The error is the smallest delay over the last two windows: one late
	// delivery (a backlog after the box was busy) does not count, a camera
	// whose time stood still while the box's ran does.
	s.minCur = min(s.minCur, diff)
	if cam+s.offset-s.winStart >= delayWindow {
		s.minPrev, s.minCur = s.minCur, math.MaxInt64
		s.winStart = cam + s.offset
	}
	est := min(s.minCur, s.minPrev)
	slew := s.maxSlew
	switch {
	case est > s.threshold:
		return s.reanchor(elapsed) // camera behind the box: jump to the box's time
	case est < -s.threshold:
		slew = fastSlew // camera ahead: outputs cannot go back, close in faster
	case est >= -s.deadBand && est <= s.deadBand:
		slew = 0
	}
	if slew > 0 {
		limit := time.Duration(float64(max(step, -step)) * slew)
		s.offset += min(max(est, -limit), limit)
	}

	out := max(cam+s.offset, s.last)
	if out > s.last {
		s.lastStep = out - s.last
	}
	s.last = out
	return out
}

// reanchor trusts the box clock: the output continues at elapsed, but at
// least one picture interval after the previous output.
// Step tells the slewer that the box's clock was stepped forward by d
// (daemon/timesync: the first NTP sync after a power cut): the outputs
// move with it at once, keeping the camera's spacing, instead of waiting
// for the delay windows to notice. A backward step (d ≤ 0) is ignored:
// outputs never decrease, the slew takes the camera back in.
func (s *Slewer) Step(d time.Duration) {
	if d <= 0 || !s.started {
		return
	}
	s.anchor += d
	s.last += d
	s.winStart += d
}

func (s *Slewer) reanchor(elapsed time.Duration) time.Duration {
	s.reanchors++
	return s.reanchorAt(max(elapsed, s.last+max(s.lastStep, time.Millisecond)))
}

func (s *Slewer) reanchorAt(at time.Duration) time.Duration {
	s.anchor = at
	s.camTicks = 0
	s.offset = 0
	s.last = at
	s.minCur, s.minPrev = math.MaxInt64, math.MaxInt64
	s.winStart = at
	return at
}
