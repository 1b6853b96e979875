package lights

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

var ict = LongBinh.Zone

func TestSunTimes(t *testing.T) {
	// Reference: worked by hand from the solar declination and the equation
	// of time for 9.68 N 105.57 E (day length from cos H = (sin -0.833° -
	// sin φ sin δ) / (cos φ cos δ), solar noon from longitude and EoT).
	for _, tt := range []struct {
		day           time.Time
		rise, set     string
		toleranceMins float64
	}{
		{time.Date(2026, 6, 21, 12, 0, 0, 0, ict), "05:38", "18:20", 3},
		{time.Date(2026, 12, 21, 12, 0, 0, 0, ict), "06:09", "17:42", 3},
		{time.Date(2026, 3, 20, 12, 0, 0, 0, ict), "06:02", "18:08", 3},
	} {
		rise, set, ok := SunTimes(tt.day, LongBinh)
		if !ok {
			t.Fatalf("%v: no sunrise", tt.day)
		}
		check := func(what string, got time.Time, want string) {
			w, _ := time.ParseInLocation("2006-01-02 15:04", tt.day.Format("2006-01-02 ")+want, ict)
			if d := got.Sub(w).Minutes(); d > tt.toleranceMins || d < -tt.toleranceMins {
				t.Errorf("%s %s = %s, want %s ±%g min", tt.day.Format("2006-01-02"), what, got.Format("15:04"), want, tt.toleranceMins)
			}
		}
		check("sunrise", rise, tt.rise)
		check("sunset", set, tt.set)
	}
	if _, _, ok := SunTimes(time.Date(2026, 6, 21, 12, 0, 0, 0, time.UTC), Location{Latitude: 80, Longitude: 0}); ok {
		t.Error("midnight sun at 80 N reported a sunset")
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time           { return c.t }
func (c *clock) add(d time.Duration)      { c.t = c.t.Add(d) }
func (c *clock) set(h, m int, day ...int) { c.t = time.Date(2026, 11, 26, h, m, 0, 0, ict) }

func TestIRBySun(t *testing.T) {
	led := &gpiotest.Pin{N: "ir"}
	c := &clock{}
	ir, err := NewIR(IRConfig{LED: led, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		h, m int
		on   bool
	}{
		{12, 0, false}, {17, 30, false}, {18, 0, true}, {23, 0, true}, {2, 0, true}, {5, 30, true}, {6, 10, false},
	} {
		c.set(tt.h, tt.m)
		ir.Step()
		if got := led.Read() == gpio.High; got != tt.on {
			t.Errorf("%02d:%02d: IR on=%v, want %v (%+v)", tt.h, tt.m, got, tt.on, ir.Status())
		}
	}
	if s := ir.Status(); s.Source != "sun" || s.Sunrise.IsZero() {
		t.Errorf("status %+v, want source sun with sunrise", s)
	}
}

func TestIRSensorHysteresis(t *testing.T) {
	led := &gpiotest.Pin{N: "ir"}
	sensor := &gpiotest.Pin{N: "ldr", L: gpio.Low} // light
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, ict)}
	ir, err := NewIR(IRConfig{LED: led, Sensor: sensor, Hold: 30 * time.Second, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		dark bool
		wait time.Duration
		on   bool
	}{
		{false, 0, false},
		{true, 10 * time.Second, false}, // headlights gone dark for 10 s: no switch
		{false, 10 * time.Second, false},
		{true, 0, false},
		{true, 20 * time.Second, false},
		{true, 11 * time.Second, true}, // dark for 31 s
		{false, 5 * time.Second, true}, // IR reflection / a torch: stays on
		{true, 5 * time.Second, true},
		{false, 0, true},
		{false, 31 * time.Second, false},
	}
	for i, s := range steps {
		sensor.Lock()
		sensor.L = gpio.Level(s.dark)
		sensor.Unlock()
		c.add(s.wait)
		ir.Step()
		if got := led.Read() == gpio.High; got != s.on {
			t.Fatalf("step %d: IR on=%v, want %v", i, got, s.on)
		}
	}
}

func TestIROverride(t *testing.T) {
	led := &gpiotest.Pin{N: "ir"}
	c := &clock{}
	c.set(12, 0)
	ir, _ := NewIR(IRConfig{LED: led, Now: c.now})
	ir.Step()
	status := NewStatusLED(&gpiotest.Pin{}, c.now)
	for _, tt := range []struct {
		mode string
		ok   bool
		on   bool
		want Mode
	}{
		{"on", true, true, On},
		{"off", true, false, Off},
		{"blink", false, false, Off},
		{"", false, false, Off},
		{"auto", true, false, Auto},
	} {
		m, err := ParseMode(tt.mode)
		if err == nil {
			err = ir.SetMode(m)
		}
		if (err == nil) != tt.ok {
			t.Fatalf("mode %q: err %v", tt.mode, err)
		}
		if ir.Status().Mode != tt.want || (led.Read() == gpio.High) != tt.on {
			t.Fatalf("%q: mode %s on=%v, want %s on=%v", tt.mode, ir.Status().Mode, led.Read(), tt.want, tt.on)
		}
		if st := StateOf(ir, status); st.Mode != tt.want || st.StatusLED != "booting" {
			t.Errorf("%q: state %+v", tt.mode, st)
		}
	}
}

// OnSwitch hears every switch of the LEDs after the first decision, with
// its time, and nothing else.
func TestIROnSwitch(t *testing.T) {
	led := &gpiotest.Pin{N: "ir"}
	c := &clock{}
	c.set(12, 0)
	var heard []string
	ir, _ := NewIR(IRConfig{LED: led, Now: c.now, OnSwitch: func(on bool, at time.Time) {
		heard = append(heard, fmt.Sprintf("%v@%s", on, at.Format("15:04")))
	}})
	ir.Step() // first decision (day: off): not a switch
	ir.Step()
	if err := ir.SetMode(On); err != nil {
		t.Fatal(err)
	}
	ir.Step()
	c.set(13, 0)
	if err := ir.SetMode(Off); err != nil {
		t.Fatal(err)
	}
	if want := []string{"true@12:00", "false@13:00"}; fmt.Sprint(heard) != fmt.Sprint(want) {
		t.Errorf("heard %v, want %v", heard, want)
	}
}

func TestPatterns(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		s    Status
		at   []time.Duration
		want string // one char per instant: 1 on, 0 off
	}{
		{AllRecording, []time.Duration{0, 500 * ms, time.Hour}, "111"},
		{Booting, []time.Duration{0, 150 * ms, 250 * ms, 350 * ms}, "1010"},
		{CameraDown, []time.Duration{0, 999 * ms, 1000 * ms, 2000 * ms}, "1101"},
		{DiskProblem, []time.Duration{0, 200 * ms, 350 * ms, 500 * ms, 1900 * ms, 2050 * ms}, "101001"},
		{Pairing, []time.Duration{50 * ms, 150 * ms, 900 * ms, 1050 * ms}, "1001"},
	} {
		var got strings.Builder
		for _, d := range tt.at {
			if Patterns[tt.s].LevelAt(d) {
				got.WriteByte('1')
			} else {
				got.WriteByte('0')
			}
		}
		if got.String() != tt.want {
			t.Errorf("%s: levels %s, want %s", tt.s, got.String(), tt.want)
		}
	}
	// Every status looks different within two seconds, sampled every 50 ms.
	seen := map[string]Status{}
	for s := Booting; s <= Pairing; s++ {
		var sig strings.Builder
		for d := time.Duration(0); d < 2*time.Second; d += 50 * ms {
			sig.WriteByte('0' + byte(b2i(bool(Patterns[s].LevelAt(d)))))
		}
		if o, dup := seen[sig.String()]; dup {
			t.Errorf("%s blinks like %s", s, o)
		}
		seen[sig.String()] = s
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestChoose(t *testing.T) {
	for _, tt := range []struct {
		booting, pairing, disk bool
		offline                int
		want                   Status
	}{
		{true, false, false, 0, Booting},
		{false, false, false, 0, AllRecording},
		{false, false, false, 2, CameraDown},
		{false, false, true, 2, DiskProblem},
		{true, true, true, 2, Pairing},
	} {
		if got := Choose(tt.booting, tt.pairing, tt.disk, tt.offline); got != tt.want {
			t.Errorf("Choose(%v,%v,%v,%d) = %s, want %s", tt.booting, tt.pairing, tt.disk, tt.offline, got, tt.want)
		}
	}
}

func TestStatusLEDDrivesPin(t *testing.T) {
	pin := &gpiotest.Pin{N: "status"}
	c := &clock{t: time.Unix(0, 0)}
	l := NewStatusLED(pin, c.now)
	var got strings.Builder
	for i := 0; i < 8; i++ {
		l.Step()
		got.WriteByte('0' + byte(b2i(bool(pin.Read()))))
		c.add(100 * time.Millisecond)
	}
	l.Set(AllRecording)
	l.Step()
	got.WriteByte('0' + byte(b2i(bool(pin.Read()))))
	if got.String() != "101010101" {
		t.Errorf("pin levels %s, want 101010101", got.String())
	}
}

func TestButtonDebounce(t *testing.T) {
	pin := &gpiotest.Pin{N: "button", L: gpio.High} // pulled up, not pressed
	c := &clock{t: time.Unix(0, 0)}
	presses := 0
	b := &Button{Pin: pin, Debounce: 50 * time.Millisecond, Now: c.now, OnPress: func() { presses++ }}
	// Each character is one 10 ms sample: 1 released (high), 0 pressed (low).
	for _, tt := range []struct {
		levels string
		want   int
	}{
		{"1111111111", 0},
		{"0101010101111111", 0},              // bounce shorter than 50 ms
		{"0000000000001111111111", 1},        // one clean press
		{"0100000000001010111111111", 1},     // bouncy press and release: still one
		{"00000000000000000000000000000", 1}, // held: no repeat
	} {
		presses = 0
		for _, ch := range tt.levels {
			pin.Lock()
			pin.L = gpio.Level(ch == '1')
			pin.Unlock()
			b.Sample()
			c.add(10 * time.Millisecond)
		}
		if presses != tt.want {
			t.Errorf("%s: %d presses, want %d", tt.levels, presses, tt.want)
		}
	}
}

func TestButtonHeldAtStartIsNoPress(t *testing.T) {
	pin := &gpiotest.Pin{N: "button", L: gpio.Low}
	c := &clock{t: time.Unix(0, 0)}
	presses := 0
	b := &Button{Pin: pin, Now: c.now, OnPress: func() { presses++ }}
	for i := 0; i < 20; i++ {
		b.Sample()
		c.add(10 * time.Millisecond)
	}
	if presses != 0 {
		t.Errorf("stuck-low line gave %d presses", presses)
	}
}

// seqPin is the GPIO fake whose reads follow a script (gpiotest.Pin's In
// sets the level from the pull, as a real pulled line would read idle).
type seqPin struct {
	*gpiotest.Pin
	levels string // one character per read: 0 low, 1 high; the last repeats
	i      *int
}

func (p seqPin) Read() gpio.Level {
	return gpio.Level(p.levels[min(*p.i, len(p.levels)-1)] == '1')
}

// The physical officer reset: the button must be held from the first sample
// through the whole hold time; a release (or bounce) at any point is no reset,
// and a button not pressed answers at once.
func TestButtonHeldAtStart(t *testing.T) {
	for _, tt := range []struct {
		name   string
		levels string // one character per 100 ms sample: 0 pressed (low), 1 released
		want   bool
		sleeps int
	}{
		{"not pressed", "1", false, 0},
		{"held through", "0000000000000000000000", true, 20},
		{"released after 1 s", "00000000001", false, 10},
		{"bounce", "0001000000000000000000", false, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			i, sleeps := 0, 0
			b := &Button{Pin: seqPin{Pin: &gpiotest.Pin{N: "button"}, levels: tt.levels, i: &i}}
			got, err := b.HeldAtStart(2*time.Second, 100*time.Millisecond, func(time.Duration) { sleeps++; i++ })
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || sleeps != tt.sleeps {
				t.Errorf("held=%v after %d samples, want %v after %d", got, sleeps, tt.want, tt.sleeps)
			}
		})
	}
}
