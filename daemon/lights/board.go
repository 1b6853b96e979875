package lights

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

var (
	initOnce sync.Once
	initErr  error
)

func initGPIO() error {
	initOnce.Do(func() {
		if _, err := driverreg.Init(); err != nil {
			initErr = fmt.Errorf("lights: periph init: %w", err)
		}
	})
	return initErr
}

// OpenLine finds a GPIO line through the Linux GPIO character device: chip
// by its name ("gpiochip0") or label ("9030000.pl061", "pinctrl-bcm2711"),
// line by its name ("GPIO17") or its offset on the chip ("3").
func OpenLine(chip, line string) (gpio.PinIO, error) {
	if err := initGPIO(); err != nil {
		return nil, err
	}
	var names []string
	for _, c := range gpioioctl.Chips {
		names = append(names, c.Name()+"="+c.Label())
		if c.Name() != chip && c.Label() != chip {
			continue
		}
		if l := c.ByName(line); l != nil {
			return l, nil
		}
		if n, err := strconv.Atoi(line); err == nil && n >= 0 && n < c.LineCount() {
			if l := c.ByNumber(n); l != nil {
				return l, nil
			}
		}
		return nil, fmt.Errorf("lights: GPIO chip %s has no line %q (%d lines)", chip, line, c.LineCount())
	}
	if len(names) == 0 {
		return nil, errors.New("lights: no GPIO chip on this machine (/dev/gpiochip*)")
	}
	return nil, fmt.Errorf("lights: no GPIO chip %q; chips: %s", chip, strings.Join(names, ", "))
}

// ParseLineRef splits "chip:line" ("9030000.pl061:3", "gpiochip0:GPIO17").
func ParseLineRef(ref string) (chip, line string, err error) {
	i := strings.LastIndexByte(ref, ':')
	if i <= 0 || i == len(ref)-1 {
		return "", "", fmt.Errorf("lights: GPIO line %q is not chip:line", ref)
	}
	return ref[:i], ref[i+1:], nil
}

// BoardLines names the board's lines as "chip:line"; empty means absent.
// The board definitions (board/) hold these.
type BoardLines struct {
	IRLED, StatusLED, LightSensor, Button string
}

// Pins are the opened lines; absent ones are nil.
type Pins struct {
	IRLED, StatusLED        gpio.PinOut
	LightSensor, PairButton gpio.PinIn
}

// OpenBoard opens the lines the board has.
func OpenBoard(b BoardLines) (Pins, error) {
	var p Pins
	open := func(what, ref string) (gpio.PinIO, error) {
		if ref == "" {
			return nil, nil
		}
		chip, line, err := ParseLineRef(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		pin, err := OpenLine(chip, line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return pin, nil
	}
	var err error
	var pin gpio.PinIO
	if pin, err = open("IR LED", b.IRLED); err != nil {
		return p, err
	} else if pin != nil {
		p.IRLED = pin
	}
	if pin, err = open("status LED", b.StatusLED); err != nil {
		return p, err
	} else if pin != nil {
		p.StatusLED = pin
	}
	if pin, err = open("light sensor", b.LightSensor); err != nil {
		return p, err
	} else if pin != nil {
		p.LightSensor = pin
	}
	if pin, err = open("pairing button", b.Button); err != nil {
		return p, err
	} else if pin != nil {
		p.PairButton = pin
	}
	return p, nil
}
