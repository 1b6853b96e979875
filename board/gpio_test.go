package board

import (
	"fmt"
	"strings"
	"testing"

	"periph.io/x/host/v3/gpioioctl"
)

type fakeChip struct {
	name, label string
	lines       int
	asked       *[]int
}

func (c fakeChip) Name() string   { return c.name }
func (c fakeChip) Label() string  { return c.label }
func (c fakeChip) LineCount() int { return c.lines }
func (c fakeChip) ByNumber(n int) *gpioioctl.GPIOLine {
	*c.asked = append(*c.asked, n)
	return nil // a real line needs a real chip; what was asked is the point
}

func TestPins(t *testing.T) {
	b, err := Load("qemu-virt")
	if err != nil {
		t.Fatal(err)
	}
	p := b.GPIO.Pins()
	if p.IRLED != (Pin{Chip: "9030000.pl061", Line: b.GPIO.IRLED}) || p.PairingButton.Line != b.GPIO.PairingButton ||
		p.StatusLED.Line != b.GPIO.StatusLED || p.LightSensor.Line != b.GPIO.LightSensor || p.LightSensor.Chip != b.GPIO.Chip {
		t.Errorf("Pins() = %+v for %+v", p, b.GPIO)
	}
	if s := p.IRLED.String(); s != fmt.Sprintf("9030000.pl061 line %d", b.GPIO.IRLED) {
		t.Errorf("String() = %q", s)
	}
}

func TestFindPin(t *testing.T) {
	var asked []int
	chips := []fakeChip{{"gpiochip0", "pinctrl-bcm2711", 58, &asked}, {"gpiochip1", "9030000.pl061", 8, &asked}}
	for _, tt := range []struct {
		name  string
		pin   Pin
		asked int // line asked of a chip, -1 none
		err   string
	}{
		{"by label", Pin{"9030000.pl061", 5}, 5, "line 5 not found"},
		{"by name", Pin{"gpiochip0", 17}, 17, "line 17 not found"},
		{"line past the chip", Pin{"9030000.pl061", 8}, -1, "has 8 lines, no line 8"},
		{"negative line", Pin{"gpiochip1", -1}, -1, "no line -1"},
		{"unknown chip", Pin{"nope", 0}, -1, "gpiochip0=pinctrl-bcm2711, gpiochip1=9030000.pl061"},
		{"no chip", Pin{"", 0}, -1, "without a chip"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			asked = nil
			_, err := findPin(chips, tt.pin)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want one containing %q", err, tt.err)
			}
			if tt.asked >= 0 && (len(asked) != 1 || asked[0] != tt.asked) {
				t.Errorf("lines asked %v, want [%d]", asked, tt.asked)
			}
			if tt.asked < 0 && len(asked) != 0 {
				t.Errorf("lines asked %v, want none", asked)
			}
		})
	}
	if _, err := findPin([]fakeChip(nil), Pin{"x", 0}); err == nil || !strings.Contains(err.Error(), "no GPIO chip on this machine") {
		t.Errorf("no chips: %v", err)
	}
}

func TestOpenPinWithoutChip(t *testing.T) {
	if _, err := OpenPin(Pin{Chip: "no-such-chip", Line: 0}); err == nil {
		t.Fatal("OpenPin on a missing chip succeeded")
	}
}
