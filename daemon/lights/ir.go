package lights

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Mode is the IR LEDs' manual override.
type Mode string

const (
	Auto Mode = "auto" // follow the light sensor or the sun
	On   Mode = "on"
	Off  Mode = "off"
)

// ParseMode reads "auto", "on" or "off".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, On, Off:
		return m, nil
	}
	return "", fmt.Errorf("lights: mode %q is not auto, on or off", s)
}

// IRConfig wires the infrared LEDs.
type IRConfig struct {
	LED gpio.PinOut // required
	// Sensor is the board's light-sensor input, nil when it has none (then
	// the sun decides).
	Sensor gpio.PinIn
	// DarkLevel is what Sensor reads in the dark (default gpio.High).
	DarkLevel *gpio.Level
	// Hold is how long the sensor must keep reading the other way before the
	// LEDs switch (default 60 s): passing headlights or a cloud do not flip
	// them, and the IR light's own reflection cannot make them oscillate.
	Hold time.Duration
	// Location for sunrise and sunset (default LongBinh).
	Location *Location
	// Twilight is how long after sunset the LEDs come on and before sunrise
	// they go off (default 15 min).
	Twilight time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnSwitch, when set, is told every time the LEDs switch after the
	// first decision (the motion detectors put the scene change it causes
	// down to the box). It is called with the controller locked: it must
	// return quickly and not call the IR back.
	OnSwitch func(on bool, at time.Time)
}

// IRStatus is what the IR controller is doing and why.
type IRStatus struct {
	Mode    Mode      `json:"mode"`
	On      bool      `json:"ir_on"`
	Source  string    `json:"source"` // "sensor", "sun" or "manual"
	Since   time.Time `json:"since"`
	Sunrise time.Time `json:"sunrise,omitzero"`
	Sunset  time.Time `json:"sunset,omitzero"`
	Error   string    `json:"error,omitempty"`
}

// IR turns the infrared LEDs on at night.
type IR struct {
	cfg      IRConfig
	loc      Location
	dark     gpio.Level
	mu       sync.Mutex
	mode     Mode
	on       bool
	decided  bool
	since    time.Time
	pending  time.Time // when the sensor started reading the other way
	lastErr  error
	rise, st time.Time
}

// NewIR sets the sensor pin as input and the LEDs off until the first Step.
func NewIR(cfg IRConfig) (*IR, error) {
	if cfg.LED == nil {
		return nil, errors.New("lights: IR LED pin missing")
	}
	if cfg.Hold <= 0 {
		cfg.Hold = time.Minute
	}
	if cfg.Twilight <= 0 {
		cfg.Twilight = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &IR{cfg: cfg, loc: LongBinh, dark: gpio.High, mode: Auto}
	if cfg.Location != nil {
		c.loc = *cfg.Location
	}
	if cfg.DarkLevel != nil {
		c.dark = *cfg.DarkLevel
	}
	if cfg.Sensor != nil {
		if err := cfg.Sensor.In(gpio.PullNoChange, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("lights: light sensor %s as input: %w", cfg.Sensor, err)
		}
	}
	if err := cfg.LED.Out(gpio.Low); err != nil {
		return nil, fmt.Errorf("lights: IR LED %s: %w", cfg.LED, err)
	}
	return c, nil
}

// nightBySun says whether t is between sunset+twilight and sunrise-twilight.
func (c *IR) nightBySun(t time.Time) bool {
	rise, set, ok := SunTimes(t, c.loc)
	if !ok {
		return false
	}
	c.rise, c.st = rise, set
	return t.Before(rise.Add(-c.cfg.Twilight)) || !t.Before(set.Add(c.cfg.Twilight))
}

// Step decides and drives the LEDs once; Run calls it every second.
func (c *IR) Step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	want := c.on
	switch {
	case c.mode == On:
		want = true
	case c.mode == Off:
		want = false
	case c.cfg.Sensor != nil:
		c.nightBySun(now) // for the status only
		dark := c.cfg.Sensor.Read() == c.dark
		switch {
		case !c.decided:
			want = dark
		case dark == c.on:
			c.pending = time.Time{}
		case c.pending.IsZero():
			c.pending = now
		case now.Sub(c.pending) >= c.cfg.Hold:
			want = dark
		}
	default:
		want = c.nightBySun(now)
	}
	if want != c.on || !c.decided {
		c.pending = time.Time{}
		lvl := gpio.Low
		if want {
			lvl = gpio.High
		}
		if err := c.cfg.LED.Out(lvl); err != nil {
			c.lastErr = fmt.Errorf("lights: IR LED %s: %w", c.cfg.LED, err)
			return
		}
		c.lastErr = nil
		switched := c.decided && want != c.on
		c.on, c.decided, c.since = want, true, now
		if switched && c.cfg.OnSwitch != nil {
			c.cfg.OnSwitch(want, now)
		}
	}
}

// Run steps every second until ctx ends, then turns the LEDs off.
func (c *IR) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.Step()
		select {
		case <-ctx.Done():
			c.mu.Lock()
			_ = c.cfg.LED.Out(gpio.Low)
			c.on = false
			c.mu.Unlock()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// SetMode overrides (On, Off) or returns to Auto, and applies it at once.
func (c *IR) SetMode(m Mode) error {
	if _, err := ParseMode(string(m)); err != nil {
		return err
	}
	c.mu.Lock()
	c.mode = m
	c.mu.Unlock()
	c.Step()
	return nil
}

// Status reports the mode, the LEDs and what decides them.
func (c *IR) Status() IRStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := IRStatus{Mode: c.mode, On: c.on, Since: c.since, Sunrise: c.rise, Sunset: c.st, Source: "sun"}
	switch {
	case c.mode != Auto:
		s.Source = "manual"
	case c.cfg.Sensor != nil:
		s.Source = "sensor"
	}
	if c.lastErr != nil {
		s.Error = c.lastErr.Error()
	}
	return s
}
