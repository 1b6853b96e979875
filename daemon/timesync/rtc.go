package timesync

import (
	"fmt"
	"time"

	"github.com/u-root/u-root/pkg/rtc"
)

// RTC is a battery-backed real-time clock (a DS3231 on the Pi's I²C bus,
// through the kernel's rtc-ds1307 driver as /dev/rtc0; QEMU virt's PL031).
type RTC interface {
	Read() (time.Time, error)
	Set(time.Time) error
}

// DeviceRTC is the kernel's RTC device (/dev/rtc, /dev/rtc0), opened for
// each call: it may appear late (a module loading) or not at all.
type DeviceRTC struct{}

// Read returns the RTC's time (UTC), or ErrNoRTC.
func (DeviceRTC) Read() (time.Time, error) {
	r, err := rtc.OpenRTC()
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %v", ErrNoRTC, err)
	}
	defer r.Close()
	t, err := r.Read()
	if err != nil {
		return time.Time{}, fmt.Errorf("read RTC: %w", err)
	}
	return t, nil
}

// Set writes t (UTC) to the RTC (RTC_SET_TIME).
func (DeviceRTC) Set(t time.Time) error {
	r, err := rtc.OpenRTC()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoRTC, err)
	}
	defer r.Close()
	if err := r.Set(t.UTC()); err != nil {
		return fmt.Errorf("set RTC: %w", err)
	}
	return nil
}
