package board

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

// Pin is one GPIO line: its chip (the label the kernel reports, e.g.
// "9030000.pl061", or the chip's name, "gpiochip0") and its offset there.
type Pin struct {
	Chip string
	Line int
}

func (p Pin) String() string { return fmt.Sprintf("%s line %d", p.Chip, p.Line) }

// Pins are the lines of a pin map, by use.
type Pins struct {
	IRLED, StatusLED, LightSensor, PairingButton Pin
}

// Pin is line n of the map's chip.
func (p PinMap) Pin(n int) Pin { return Pin{Chip: p.Chip, Line: n} }

// Pins returns the map's lines as pins.
func (p PinMap) Pins() Pins {
	return Pins{IRLED: p.Pin(p.IRLED), StatusLED: p.Pin(p.StatusLED),
		LightSensor: p.Pin(p.LightSensor), PairingButton: p.Pin(p.PairingButton)}
}

var (
	gpioOnce sync.Once
	gpioErr  error
)

// OpenPin finds a pin's line through the Linux GPIO character device
// (/dev/gpiochip*, by periph.io). It is the one GPIO line lookup: the
// daemon's lights and the technician's self-test both open lines here.
func OpenPin(p Pin) (gpio.PinIO, error) {
	gpioOnce.Do(func() {
		if _, err := driverreg.Init(); err != nil {
			gpioErr = fmt.Errorf("gpio: periph init: %w", err)
		}
	})
	if gpioErr != nil {
		return nil, gpioErr
	}
	return findPin(gpioioctl.Chips, p)
}

// chip is what findPin needs of a GPIO chip (*gpioioctl.GPIOChip).
type chip interface {
	Name() string
	Label() string
	LineCount() int
	ByNumber(int) *gpioioctl.GPIOLine
}

func findPin[C chip](chips []C, p Pin) (gpio.PinIO, error) {
	if p.Chip == "" {
		return nil, errors.New("gpio: pin without a chip")
	}
	var names []string
	for _, c := range chips {
		names = append(names, c.Name()+"="+c.Label())
		if c.Name() != p.Chip && c.Label() != p.Chip {
			continue
		}
		if p.Line < 0 || p.Line >= c.LineCount() {
			return nil, fmt.Errorf("gpio: chip %s has %d lines, no line %d", p.Chip, c.LineCount(), p.Line)
		}
		if l := c.ByNumber(p.Line); l != nil {
			return l, nil
		}
		return nil, fmt.Errorf("gpio: chip %s: line %d not found", p.Chip, p.Line)
	}
	if len(names) == 0 {
		return nil, errors.New("gpio: no GPIO chip on this machine (/dev/gpiochip*)")
	}
	return nil, fmt.Errorf("gpio: no GPIO chip %q; chips: %s", p.Chip, strings.Join(names, ", "))
}
