// Package datapart finds, checks and mounts the data partition where the
// recordings live, and creates its file system on first boot.
//
// The one rule: a partition is formatted only when it is empty (its first
// MiB all zeros and no ext backup superblock found). A partition holding
// any file system, or anything else, is never formatted: an unknown one is
// left alone and the box records to RAM, saying so.
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
)

func (k Kind) String() string {
	switch k {
	case Empty:
		return "empty"
	case Ext4:
		return "ext4"
	case DamagedExt:
		return "ext file system with a damaged primary superblock"
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
}

// Result says what Prepare did.
type Result struct {
	Device    string
	Found     Kind
	Formatted bool
	// Fsck is e2fsck's summary ("clean", "errors corrected", ...).
	Fsck string
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
	switch kind {
	case Empty:
		args := []string{"-q", "-F", "-t", "ext4", "-L", "matthan-data", "-m", "1",
			"-E", "lazy_itable_init=1", dev}
		cmd := exec.CommandContext(ctx, tools.Mkfs, args...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return res, fmt.Errorf("mke2fs %s: %w", dev, err)
		}
		res.Formatted = true
	case Ext4:
		res.Fsck, err = fsck(ctx, tools.Fsck, dev, log)
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
	return res, nil
}

// fsck runs e2fsck -p and interprets its exit code (see e2fsck(8)).
func fsck(ctx context.Context, tool, dev string, log io.Writer) (string, error) {
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
	return FsckSummary(code)
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
