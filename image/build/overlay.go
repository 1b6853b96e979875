package build

import (
	"bytes"
	"fmt"

	"github.com/matthan/matthan/board"
	"github.com/u-root/u-root/pkg/dt"
)

// RTCOverlay is the device tree overlay (.dtbo) that declares the board's
// optional RTC chip on its I²C bus; the Raspberry Pi firmware applies it
// (config.txt: dtoverlay=matthan-rtc) to the board's device tree before
// the kernel starts. It targets the bus by path: Debian's device trees are
// built without the symbols a label reference needs. Written in Go with
// u-root's FDT writer (no dtc at build time).
func RTCOverlay(r board.RTCChip) ([]byte, error) {
	chip := dt.NewNode(fmt.Sprintf("rtc@%x", r.Address), dt.WithProperty(
		dt.PropertyString("compatible", r.Compatible),
		dt.PropertyU32("reg", r.Address),
		dt.PropertyString("status", "okay"),
	))
	overlay := dt.NewNode("__overlay__", dt.WithChildren(chip))
	fragment := dt.NewNode("fragment@0", dt.WithProperty(dt.PropertyString("target-path", r.I2CBus)), dt.WithChildren(overlay))
	root := dt.NewNode("", dt.WithChildren(fragment))
	fdt := &dt.FDT{Header: dt.Header{Magic: dt.Magic, Version: 17, LastCompVersion: 16}, RootNode: root}
	var b bytes.Buffer
	if _, err := fdt.Write(&b); err != nil {
		return nil, fmt.Errorf("rtc overlay: %w", err)
	}
	return b.Bytes(), nil
}
