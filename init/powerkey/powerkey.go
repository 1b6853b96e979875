// Package powerkey watches the kernel's input devices for the power
// button (KEY_POWER), such as the gpio-keys button of QEMU virt's device
// tree that the monitor's system_powerdown presses, or a button wired to a
// GPIO on the Raspberry Pi.
package powerkey

import (
	"context"
	"encoding/binary"

	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Linux input event constants (linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
)

// eventSize is sizeof(struct input_event) on 64-bit Linux.
const eventSize = 24

// Devices lists /dev/input/eventN devices whose key capabilities include
// KEY_POWER, reading sysfs below sysInput (normally /sys/class/input).
func Devices(sysInput string) ([]string, error) {
	ents, err := filepath.Glob(filepath.Join(sysInput, "event*"))
	if err != nil {
		return nil, err
	}
	var devs []string
	for _, e := range ents {
		caps, err := os.ReadFile(filepath.Join(e, "device", "capabilities", "key"))
		if err != nil {
			continue
		}
		if HasKey(string(caps), keyPower) {
			devs = append(devs, "/dev/input/"+filepath.Base(e))
		}
	}
	return devs, nil
}

// HasKey reads a sysfs capability bitmap (hex words, most significant
// first, each one long wide) and reports whether bit code is set.
func HasKey(bitmap string, code int) bool {
	words := strings.Fields(bitmap)
	const bits = 64
	idx := len(words) - 1 - code/bits
	if idx < 0 || idx >= len(words) {
		return false
	}
	w, err := strconv.ParseUint(words[idx], 16, 64)
	if err != nil {
		return false
	}
	return w&(1<<(code%bits)) != 0
}

// Pressed reads input events from r until the power key goes down. It
// returns nil on a press, or the read error.
func Pressed(r io.Reader) error {
	buf := make([]byte, eventSize)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		typ := binary.LittleEndian.Uint16(buf[16:])
		code := binary.LittleEndian.Uint16(buf[18:])
		value := int32(binary.LittleEndian.Uint32(buf[20:]))
		if typ == evKey && code == keyPower && value == 1 {
			return nil
		}
	}
}

// Watch finds the power button devices (retrying for up to 10 s while
// drivers probe) and calls press once when one is pressed. It returns
// when ctx ends or after the press.
func Watch(ctx context.Context, press func(), logf func(string, ...any)) {
	var devs []string
	for i := 0; i < 20 && ctx.Err() == nil; i++ {
		devs, _ = Devices("/sys/class/input")
		if len(devs) > 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if len(devs) == 0 {
		logf("power button: none found")
		return
	}
	pressed := make(chan string, len(devs))
	var files []*os.File
	for _, d := range devs {
		f, err := os.Open(d)
		if err != nil {
			logf("power button: %v", err)
			continue
		}
		files = append(files, f)
		go func(f *os.File, d string) {
			if Pressed(f) == nil {
				pressed <- d
			}
		}(f, d)
	}
	logf("power button: watching %s", strings.Join(devs, ", "))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	select {
	case <-ctx.Done():
	case d := <-pressed:
		logf("power button pressed (%s)", d)
		press()
	}
}
