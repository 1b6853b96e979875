// Package datapart finds, checks and mounts the data partition where the
// recordings live, and creates its file system on first boot.
//
// The one rule: a partition is formatted only when it is empty (its first
// MiB all zeros and no ext backup superblock found), or when init's own
// first format was cut short (the marker it writes before mke2fs is still
// there and no superblock was written). A partition holding any file
// system, or anything else, is never formatted: an unknown one is left
// alone and the box records to RAM, saying so. The flash tool makes a used
// card's data partition read as zeros again, so it comes up as a new box.
//
// Before that, the partition grows to the end of its disk (grow.go): on
// first boot, and when a card was cloned onto a larger one (the ext4 is
// then grown online after mounting).
package datapart

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultLabel is the GPT partition name the image gives the data partition.
const DefaultLabel = "matthan-data"

// Kind is what Probe found on a partition.
type Kind int

// Kinds of partition content.
const (
	Empty Kind = iota
	Ext4
	DamagedExt // primary superblock gone, a backup superblock present
	Other
	// Unfinished: init's first format was cut (its marker is at the end
	// of the partition, no superblock was written): formatted again.
	Unfinished
)

func (k Kind) String() string {
	switch k {
	case Empty:
		return "empty"
	case Ext4:
		return "ext4"
	case DamagedExt:
		return "ext file system with a damaged primary superblock"
	case Unfinished:
		return "an interrupted first format"
	default:
		return "unknown content"
	}
}

const extMagic = 0xEF53

// Probe looks at a partition's content. size is the partition's size.
func Probe(r io.ReaderAt, size int64) (Kind, error) {
	head := make([]byte, 1<<20)
	if int64(len(head)) > size {
		head = head[:size]
	}
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return Other, fmt.Errorf("read partition start: %w", err)
	}
	if len(head) >= 1024+58 && binary.LittleEndian.Uint16(head[1024+56:]) == extMagic {
		return Ext4, nil
	}
	if !allZero(head) {
		if hasFormatMarker(r, size) {
			return Unfinished, nil
		}
		return Other, nil
	}
	// Backup superblocks of ext file systems: group 1 starts at block
	// 8193 (1 KiB blocks), 16384 (2 KiB) or 32768 (4 KiB).
	for _, off := range []int64{8193 * 1024, 16384 * 2048, 32768 * 4096} {
		if off+1024 > size {
			continue
		}
		sb := make([]byte, 64)
		if _, err := r.ReadAt(sb, off); err != nil {
			return Other, fmt.Errorf("read backup superblock at %d: %w", off, err)
		}
		if binary.LittleEndian.Uint16(sb[56:]) == extMagic {
			return DamagedExt, nil
		}
	}
	return Empty, nil
}

func allZero(b []byte) bool {
	var zero [4096]byte
	for len(b) > 0 {
		n := min(len(b), len(zero))
		if !bytes.Equal(b[:n], zero[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// formatMarker is written markerOffset bytes before the partition's end
// before mke2fs runs and zeroed when it has finished. mke2fs does not
// write there: it zeroes only the last 64 KiB (old RAID superblocks) and
// puts group metadata at group starts (TestMke2fsCutAnywhere checks it
// against the real mke2fs). It names the partition size, so a marker left
// from another layout does not match.
const markerOffset = 256 << 10

func formatMarker(size int64) []byte {
	b := make([]byte, 4096)
	copy(b, fmt.Sprintf("matthan: first format of this %d-byte partition in progress; if this is still here, it was cut and is redone\n", size))
	return b
}

func hasFormatMarker(r io.ReaderAt, size int64) bool {
	if size < 2<<20 {
		return false
	}
	want := formatMarker(size)
	got := make([]byte, len(want))
	if _, err := r.ReadAt(got, size-markerOffset); err != nil {
		return false
	}
	return bytes.Equal(got, want)
}

// FindByLabel returns /dev/NAME of the partition whose GPT name is label,
// looking through sysBlock (normally /sys/class/block).
func FindByLabel(sysBlock, label string) (string, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", fmt.Errorf("list block devices: %w", err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "uevent"))
		if err != nil {
			continue
		}
		var dev, name string
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "DEVNAME":
				dev = v
			case "PARTNAME":
				name = v
			}
		}
		if name == label && dev != "" {
			return "/dev/" + dev, nil
		}
	}
	return "", fmt.Errorf("no partition named %q: %w", label, os.ErrNotExist)
}

// Tools are the e2fsprogs programs in the initramfs.
type Tools struct {
	Mkfs string // mke2fs
	Fsck string // e2fsck
	// Resize is resize2fs, for growing an ext4 offline when the kernel
	// will not grow it mounted (may be empty: no fallback).
	Resize string
	// Pause (may be nil) is called before the format and resize phases
	// (init reports them; tests cut the power there).
	Pause func(phase string)
}

// Result says what Prepare did.
type Result struct {
	Device    string
	Found     Kind
	Formatted bool
	// Fsck is e2fsck's summary ("clean", "errors corrected", ...).
	Fsck string
	// Resized: an existing ext4 was grown to fill the partition.
	Resized bool
	// Bytes is the partition's size.
	Bytes int64
}

// Prepare checks dev, creates an ext4 file system if (and only if) it is
// empty, runs e2fsck in preen mode and mounts it on dir.
func Prepare(ctx context.Context, dev, dir string, tools Tools, log io.Writer) (Result, error) {
	res := Result{Device: dev}
	f, err := os.Open(dev)
	if err != nil {
		return res, fmt.Errorf("open %s: %w", dev, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return res, fmt.Errorf("size of %s: %w", dev, err)
	}
	kind, err := Probe(f, size)
	f.Close()
	res.Found = kind
	if err != nil {
		return res, err
	}
	res.Bytes = size
	pause := tools.Pause
	if pause == nil {
		pause = func(string) {}
	}
	switch kind {
	case Empty, Unfinished:
		pause(PhaseFormat)
		if err := format(ctx, dev, size, tools.Mkfs, log); err != nil {
			return res, err
		}
		res.Formatted = true
	case Ext4:
		res.Fsck, err = Fsck(ctx, tools.Fsck, dev, log)
		if err != nil {
			return res, err
		}
	default:
		return res, fmt.Errorf("%s holds %s: not formatting it, not mounting it", dev, kind)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("mkdir %s: %w", dir, err)
	}
	if err := unix.Mount(dev, dir, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, "errors=remount-ro"); err != nil {
		return res, fmt.Errorf("mount %s on %s: %w", dev, dir, err)
	}
	if kind == Ext4 {
		grown, err := growExt4(dev, dir, size, pause)
		if err != nil && tools.Resize != "" {
			fmt.Fprintf(log, "datapart: %s: online growth failed (%v): growing it unmounted\n", dev, err)
			grown, err = growOffline(ctx, dev, dir, tools, log)
		}
		if err != nil {
			// Still a working file system at its old size.
			fmt.Fprintf(log, "datapart: %s: could not grow the file system to the partition: %v\n", dev, err)
		}
		res.Resized = grown
	}
	return res, nil
}

// growOffline unmounts dir, checks the file system fully (resize2fs
// wants that), grows it with resize2fs and mounts it again; whatever
// fails, it mounts it again.
func growOffline(ctx context.Context, dev, dir string, tools Tools, log io.Writer) (bool, error) {
	if err := unix.Unmount(dir, 0); err != nil {
		return false, fmt.Errorf("unmount %s: %w", dir, err)
	}
	var grown bool
	err := func() error {
		cmd := exec.CommandContext(ctx, tools.Fsck, "-f", "-p", dev)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode()&^3 != 0 {
				return fmt.Errorf("e2fsck -f %s: %w", dev, err)
			}
		}
		cmd = exec.CommandContext(ctx, tools.Resize, dev)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("resize2fs %s: %w", dev, err)
		}
		grown = true
		return nil
	}()
	if merr := unix.Mount(dev, dir, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, "errors=remount-ro"); merr != nil {
		return grown, errors.Join(err, fmt.Errorf("mount %s on %s again: %w", dev, dir, merr))
	}
	return grown, err
}

// format discards the partition (what mke2fs would do itself, but that
// would erase the marker), writes the marker, runs mke2fs and removes the
// marker.
func format(ctx context.Context, dev string, size int64, mkfs string, log io.Writer) error {
	if f, err := os.OpenFile(dev, os.O_WRONLY, 0); err == nil {
		r := [2]uint64{0, uint64(size)}
		unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKDISCARD, uintptr(unsafe.Pointer(&r))) // best effort: cards that cannot, keep their old blocks
		f.Close()
	}
	if err := writeAt(dev, formatMarker(size), size-markerOffset); err != nil {
		return err
	}
	args := []string{"-q", "-F", "-t", "ext4", "-L", "matthan-data", "-m", "1",
		"-E", "lazy_itable_init=1,nodiscard", dev}
	cmd := exec.CommandContext(ctx, mkfs, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mke2fs %s: %w", dev, err)
	}
	return writeAt(dev, make([]byte, 4096), size-markerOffset)
}

func writeAt(dev string, b []byte, off int64) error {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		f.Close()
		return fmt.Errorf("write %s at %d: %w", dev, off, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", dev, err)
	}
	return f.Close()
}

// ext4Size reads the block count and block size from an ext4 superblock.
func ext4Size(r io.ReaderAt) (blocks, blockSize int64, err error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, 1024); err != nil {
		return 0, 0, fmt.Errorf("read superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[56:]) != extMagic {
		return 0, 0, errors.New("no ext superblock")
	}
	logBS := le.Uint32(sb[24:])
	if logBS > 6 {
		return 0, 0, fmt.Errorf("block size 2^%d KiB", logBS)
	}
	blockSize = 1024 << logBS
	blocks = int64(le.Uint32(sb[4:]))
	const incompat64bit = 0x80
	if le.Uint32(sb[0x60:])&incompat64bit != 0 {
		blocks |= int64(le.Uint32(sb[0x150:])) << 32
	}
	return blocks, blockSize, nil
}

// ext4IocResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64): online
// growth, what resize2fs does for a mounted ext4.
const ext4IocResizeFS = 0x40086610

// growExt4 grows the ext4 mounted on dir to fill its partition (size
// bytes) when the partition is larger by at least 1 MiB.
func growExt4(dev, dir string, size int64, pause func(string)) (bool, error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, err
	}
	blocks, bs, err := ext4Size(f)
	f.Close()
	if err != nil {
		return false, err
	}
	want := size / bs
	if (want-blocks)*bs < 1<<20 {
		return false, nil
	}
	pause(PhaseResize)
	d, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer d.Close()
	n := uint64(want)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, d.Fd(), ext4IocResizeFS, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return false, fmt.Errorf("EXT4_IOC_RESIZE_FS to %d blocks: %w", want, errno)
	}
	return true, nil
}

// Fsck runs e2fsck -p on dev, its output to log, and interprets its exit
// code (see e2fsck(8)) with FsckSummary: the data partition at boot, a
// recording disk (daemon/disks) when it is plugged in.
func Fsck(ctx context.Context, tool, dev string, log io.Writer) (string, error) {
	cmd := exec.CommandContext(ctx, tool, "-p", dev)
	cmd.Stdout, cmd.Stderr = log, log
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return "", fmt.Errorf("e2fsck %s: %w", dev, err)
	}
	sum, err := FsckSummary(code)
	if err != nil {
		return "", fmt.Errorf("%s: %w", dev, err)
	}
	return sum, nil
}

// FsckSummary turns e2fsck's exit code into a word, or an error when the
// file system must not be mounted read-write without a person looking.
func FsckSummary(code int) (string, error) {
	switch {
	case code == 0:
		return "clean", nil
	case code&^3 == 0: // 1: corrected, 2: corrected, reboot wanted
		return "errors corrected", nil
	case code&4 != 0:
		return "", fmt.Errorf("e2fsck: errors left uncorrected (exit %d): run e2fsck by hand", code)
	default:
		return "", fmt.Errorf("e2fsck failed (exit %d)", code)
	}
}

// Unmount syncs and unmounts dir; if it is busy, it remounts it read-only.
func Unmount(dir string) error {
	unix.Sync()
	if err := unix.Unmount(dir, 0); err == nil {
		return nil
	} else if !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("unmount %s: busy, and remount read-only failed: %w", dir, err)
	}
	return nil
}
