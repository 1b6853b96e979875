package timesync

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the box's system clock as the discipline drives it. Step
// moves it by d at once (the discipline only ever passes d > 0); Slew
// starts a gradual correction by d (negative: slow down), replacing any
// slew still running; Slewing is what remains of it.
type Clock interface {
	Now() time.Time
	Step(d time.Duration) error
	Slew(d time.Duration) error
	Slewing() time.Duration
}

// Slew rates of the system clock: corrections up to SmallSlew go through
// the kernel's adjtime (500 ppm: 0.5 s in 17 min); larger ones change the
// tick length by FastSlewRate (5 %: 1 min ahead is gone in 20 min).
const (
	SmallSlew    = 500 * time.Millisecond
	FastSlewRate = 0.05
)

// System is the kernel's CLOCK_REALTIME, through adjtimex(2). Only the
// box's daemon uses it (it needs CAP_SYS_TIME); host-mode runs watch
// without a Clock.
type System struct {
	mu    sync.Mutex
	timer *time.Timer
	until time.Time // end of a tick slew (monotonic)
	left  time.Duration
	sign  time.Duration
}

const userHZ = 100 // adjtimex's tick unit: µs per 1/USER_HZ s

func (s *System) Now() time.Time { return time.Now() }

// Step adds d to the clock in one adjtimex(ADJ_SETOFFSET) call, which is
// exact (no read-then-set race).
func (s *System) Step(d time.Duration) error {
	s.stopTick()
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO}
	sec, nsec := int64(d/time.Second), int64(d%time.Second)
	if nsec < 0 {
		sec, nsec = sec-1, nsec+int64(time.Second)
	}
	tx.Time.Sec, tx.Time.Usec = sec, nsec // with ADJ_NANO the field holds ns
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("step clock by %v: %w", d, err)
	}
	return nil
}

// Slew starts a correction by d.
func (s *System) Slew(d time.Duration) error {
	s.stopTick()
	if d >= -SmallSlew && d <= SmallSlew {
		tx := unix.Timex{Modes: unix.ADJ_OFFSET_SINGLESHOT, Offset: int64(d / time.Microsecond)}
		if _, err := unix.Adjtimex(&tx); err != nil {
			return fmt.Errorf("slew clock by %v: %w", d, err)
		}
		return nil
	}
	// Cancel a pending adjtime, then lengthen or shorten the tick.
	unix.Adjtimex(&unix.Timex{Modes: unix.ADJ_OFFSET_SINGLESHOT})
	tick := int64(1e6 / userHZ)
	delta := int64(float64(tick) * FastSlewRate)
	sign := time.Duration(1)
	if d < 0 {
		delta, sign = -delta, -1
	}
	if _, err := unix.Adjtimex(&unix.Timex{Modes: unix.ADJ_TICK, Tick: tick + delta}); err != nil {
		return fmt.Errorf("slew clock by %v: %w", d, err)
	}
	dur := time.Duration(float64(sign*d) / FastSlewRate)
	s.mu.Lock()
	s.until, s.left, s.sign = time.Now().Add(dur), sign*d, sign
	s.timer = time.AfterFunc(dur, s.stopTick)
	s.mu.Unlock()
	return nil
}

func (s *System) stopTick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer == nil {
		return
	}
	s.timer.Stop()
	s.timer = nil
	unix.Adjtimex(&unix.Timex{Modes: unix.ADJ_TICK, Tick: 1e6 / userHZ})
}

// Slewing is the correction still to make.
func (s *System) Slewing() time.Duration {
	s.mu.Lock()
	if s.timer != nil {
		left := time.Duration(float64(time.Until(s.until)) * FastSlewRate)
		s.mu.Unlock()
		return s.sign * max(left, 0)
	}
	s.mu.Unlock()
	tx := unix.Timex{Modes: unix.ADJ_OFFSET_SS_READ}
	if _, err := unix.Adjtimex(&tx); err != nil {
		return 0
	}
	return time.Duration(tx.Offset) * time.Microsecond
}

// Close ends a tick slew (the tick goes back to normal).
func (s *System) Close() error { s.stopTick(); return nil }

// ErrNoRTC: the box has no real-time clock.
var ErrNoRTC = errors.New("no real-time clock")
