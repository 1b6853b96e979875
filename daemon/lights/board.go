package lights

import (
	"fmt"

	"periph.io/x/conn/v3/gpio"

	"github.com/matthan/matthan/board"
)

// Pins are the opened lines.
type Pins struct {
	IRLED, StatusLED        gpio.PinOut
	LightSensor, PairButton gpio.PinIn
}

// OpenBoard opens the board's lines (board.OpenPin: the one lookup).
func OpenBoard(b board.Pins) (Pins, error) {
	var p Pins
	for _, l := range []struct {
		what string
		pin  board.Pin
		set  func(gpio.PinIO)
	}{
		{"IR LED", b.IRLED, func(l gpio.PinIO) { p.IRLED = l }},
		{"status LED", b.StatusLED, func(l gpio.PinIO) { p.StatusLED = l }},
		{"light sensor", b.LightSensor, func(l gpio.PinIO) { p.LightSensor = l }},
		{"pairing button", b.PairingButton, func(l gpio.PinIO) { p.PairButton = l }},
	} {
		pin, err := board.OpenPin(l.pin)
		if err != nil {
			return p, fmt.Errorf("lights: %s: %w", l.what, err)
		}
		l.set(pin)
	}
	return p, nil
}
