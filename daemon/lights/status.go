package lights

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Status is what the status LED shows. README.md lists the patterns for
// technicians.
type Status int

const (
	Booting      Status = iota // fast even blink, 5 per second
	AllRecording               // steady on
	CameraDown                 // slow blink: 1 s on, 1 s off
	DiskProblem                // two short flashes, then a pause (every 2 s)
	Pairing                    // one short flash a second (heartbeat)
)

var statusNames = [...]string{"booting", "all_recording", "camera_offline", "disk_problem", "pairing"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// Pattern is a blink cycle: on, off, on, off, ... durations. One entry
// of zero means steady on.
type Pattern []time.Duration

// Patterns of each status.
var Patterns = map[Status]Pattern{
	Booting:      {100 * time.Millisecond, 100 * time.Millisecond},
	AllRecording: {0},
	CameraDown:   {time.Second, time.Second},
	DiskProblem:  {150 * time.Millisecond, 150 * time.Millisecond, 150 * time.Millisecond, 1550 * time.Millisecond},
	Pairing:      {100 * time.Millisecond, 900 * time.Millisecond},
}

// LevelAt is the LED level d into the pattern.
func (p Pattern) LevelAt(d time.Duration) gpio.Level {
	if len(p) == 0 {
		return gpio.Low
	}
	if len(p) == 1 && p[0] == 0 {
		return gpio.High
	}
	var cycle time.Duration
	for _, s := range p {
		cycle += s
	}
	if cycle <= 0 {
		return gpio.Low
	}
	d %= cycle
	if d < 0 {
		d += cycle
	}
	for i, s := range p {
		if d < s {
			return gpio.Level(i%2 == 0)
		}
		d -= s
	}
	return gpio.Low
}

// Choose picks what the LED shows when several things are true: pairing
// (a technician is at the box) over a disk problem (recordings at risk)
// over a camera offline over booting.
func Choose(booting, pairing, diskProblem bool, camerasOffline int) Status {
	switch {
	case pairing:
		return Pairing
	case diskProblem:
		return DiskProblem
	case camerasOffline > 0:
		return CameraDown
	case booting:
		return Booting
	}
	return AllRecording
}

// StatusLED blinks the status LED.
type StatusLED struct {
	pin   gpio.PinOut
	now   func() time.Time
	mu    sync.Mutex
	st    Status
	start time.Time
	level gpio.Level
	set   bool
}

// NewStatusLED starts in Booting. now may be nil (time.Now).
func NewStatusLED(pin gpio.PinOut, now func() time.Time) *StatusLED {
	if now == nil {
		now = time.Now
	}
	return &StatusLED{pin: pin, now: now, st: Booting, start: now()}
}

// Set changes the pattern; the new one starts from its beginning.
func (l *StatusLED) Set(s Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s != l.st {
		l.st, l.start = s, l.now()
	}
}

// Get returns the status shown.
func (l *StatusLED) Get() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// Step drives the pin for the current instant and returns its level.
func (l *StatusLED) Step() (gpio.Level, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lvl := Patterns[l.st].LevelAt(l.now().Sub(l.start))
	if l.set && lvl == l.level {
		return lvl, nil
	}
	if err := l.pin.Out(lvl); err != nil {
		return lvl, fmt.Errorf("lights: status LED %s: %w", l.pin, err)
	}
	l.level, l.set = lvl, true
	return lvl, nil
}

// Run blinks until ctx ends, then leaves the LED off.
func (l *StatusLED) Run(ctx context.Context) error {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		_, _ = l.Step()
		select {
		case <-ctx.Done():
			_ = l.pin.Out(gpio.Low)
			return ctx.Err()
		case <-t.C:
		}
	}
}

// NoGPIO is the lights' state on a machine without the board's GPIO lines
// (the host, or a board file without pins).
const NoGPIO = "không có GPIO / no GPIO"

// State is the lights as the admin page shows them (GET /api/lights): the
// IR controller and the status LED's pattern.
type State struct {
	IRStatus
	StatusLED string `json:"status_led,omitempty"`
}

// StateOf reads ir and status (which may be nil).
func StateOf(ir *IR, status *StatusLED) State {
	s := State{IRStatus: ir.Status()}
	if status != nil {
		s.StatusLED = status.Get().String()
	}
	return s
}
