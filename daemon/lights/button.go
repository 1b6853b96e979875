package lights

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Button reads the pairing button: pulled up, pressed pulls the line low
// (ActiveHigh reverses that). A press counts once the level has held for
// Debounce, so contact bounce and interference give one press or none.
type Button struct {
	Pin        gpio.PinIn
	ActiveHigh bool
	Debounce   time.Duration // default 50 ms
	Poll       time.Duration // how often the level is sampled, default 10 ms
	// OnPress is called (from Run's goroutine) once per debounced press.
	OnPress func()
	Now     func() time.Time // default time.Now

	stable    bool // debounced pressed state
	candidate bool
	since     time.Time
	started   bool
}

func (b *Button) pressed(l gpio.Level) bool { return bool(l) == b.ActiveHigh }

// Sample takes one reading at the current instant and calls OnPress on a
// debounced press. Run calls it; tests call it with a fake clock.
func (b *Button) Sample() {
	if b.Now == nil {
		b.Now = time.Now
	}
	if b.Debounce <= 0 {
		b.Debounce = 50 * time.Millisecond
	}
	now := b.Now()
	p := b.pressed(b.Pin.Read())
	if !b.started {
		// A button held at start (or a line stuck low) is not a press.
		b.started, b.stable, b.candidate, b.since = true, p, p, now
		return
	}
	if p != b.candidate {
		b.candidate, b.since = p, now
		return
	}
	if p != b.stable && now.Sub(b.since) >= b.Debounce {
		b.stable = p
		if p && b.OnPress != nil {
			b.OnPress()
		}
	}
}

// Run samples the button until ctx ends. It waits for edges where the pin
// reports them and polls otherwise.
func (b *Button) Run(ctx context.Context) error {
	if b.Poll <= 0 {
		b.Poll = 10 * time.Millisecond
	}
	pull := gpio.PullUp
	if b.ActiveHigh {
		pull = gpio.PullDown
	}
	if err := b.Pin.In(pull, gpio.NoEdge); err != nil {
		return fmt.Errorf("lights: button %s as input: %w", b.Pin, err)
	}
	t := time.NewTicker(b.Poll)
	defer t.Stop()
	for {
		b.Sample()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// HeldAtStart reports whether the button is held now and stays held for
// hold (sampled every poll; sleep waits, time.Sleep when nil). The daemon
// asks it once at start: the pairing button held at power-on is the
// physical officer reset (a technician may create one new officer). A
// button not pressed at the first sample answers at once, so a normal
// start does not wait.
func (b *Button) HeldAtStart(hold, poll time.Duration, sleep func(time.Duration)) (bool, error) {
	if sleep == nil {
		sleep = time.Sleep
	}
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	pull := gpio.PullUp
	if b.ActiveHigh {
		pull = gpio.PullDown
	}
	if err := b.Pin.In(pull, gpio.NoEdge); err != nil {
		return false, fmt.Errorf("lights: button %s as input: %w", b.Pin, err)
	}
	for waited := time.Duration(0); ; waited += poll {
		if !b.pressed(b.Pin.Read()) {
			return false, nil
		}
		if waited >= hold {
			return true, nil
		}
		sleep(poll)
	}
}
