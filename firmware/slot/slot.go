// Package slot is the A/B boot slot logic of firmware updates behind one
// small interface, Booter: which slot runs and whether this boot is a
// trial, where to write the other slot, how to arm one trial boot of it,
// and how to make the running trial permanent. UEFI boards (qemu-virt) use
// systemd-boot's boot counting on the ESP; the Raspberry Pi 4 uses
// autoboot.txt with tryboot_a_b and `reboot "0 tryboot"`. Both work on
// files only, so both are unit-tested on plain folders; the data
// partition is never touched.
package slot

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// Slot is a boot slot, "a" or "b".
type Slot string

// The two slots.
const (
	A Slot = "a"
	B Slot = "b"
)

// Other is the slot that is not s.
func (s Slot) Other() Slot {
	if s == A {
		return B
	}
	return A
}

// Valid says whether s names a slot.
func (s Slot) Valid() bool { return s == A || s == B }

// Boot is what runs now.
type Boot struct {
	Slot Slot
	// Trial: this boot is a trial of a newly written slot, not yet
	// confirmed; a reset (watchdog, power cut, health check failing)
	// brings the other slot back.
	Trial bool
}

// Booter is a board's slot mechanism.
type Booter interface {
	// Running says which slot booted and whether the boot is a trial.
	Running() (Boot, error)
	// Dir is the folder that holds slot s's files.
	Dir(s Slot) string
	// Prepare makes slot s unbootable (it is about to be overwritten)
	// and returns the folder to write its files into.
	Prepare(s Slot) (dir string, err error)
	// Arm makes the next boot, once, a trial of slot s (whose files are
	// written and synced); counter is its release's anti-rollback counter.
	Arm(s Slot, counter uint64) error
	// Confirm makes the running trial slot the one that boots.
	Confirm() error
	// RebootArg is the argument of the reboot that starts the trial
	// ("" for a plain reboot; "0 tryboot" on the Pi).
	RebootArg() string
}

// writeFileSync replaces path with data (firmware/atomicfile: temporary
// file, fsync, rename), then SyncDir. On FAT the rename is not atomic
// across a power cut in every case; a torn entry is skipped by the
// loader, and the other slot boots.
func writeFileSync(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes renames and removals in a folder last: fsync of the
// folder, then sync(2). On Linux's vfat an fsync of a folder does not
// write its directory entries nor the allocation table (a rename is only
// marked dirty in the buffer cache): power cuts in the QEMU update test
// right after a confirm lost the rename and left FAT errors that turned
// the boot partition read-only. sync writes every dirty buffer.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	syscall.Sync()
	return nil
}
