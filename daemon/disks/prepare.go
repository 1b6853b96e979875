package disks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/firmware/datapart"
	"github.com/matthan/matthan/firmware/gpt"
)

// Tools are the e2fsprogs programs (in the box's initramfs).
type Tools struct {
	Mkfs string // mke2fs
	Fsck string // e2fsck
}

// BoxTools are where the image puts them.
var BoxTools = Tools{Mkfs: "/sbin/mke2fs", Fsck: "/sbin/e2fsck"}

// Format makes d a recording disk: a new GPT with one partition named
// matthan-rec over the whole disk, and an ext4 file system labelled
// matthan-rec on it. Whatever the disk held is lost: call it only after a
// technician confirmed this disk. It refuses a disk in use (mounted, or
// held by anyone: the device is opened with O_EXCL). It returns the
// partition's device.
func Format(ctx context.Context, sys Sys, d Disk, tools Tools, log io.Writer) (string, error) {
	if _, err := PartitionDisk(d); err != nil {
		return "", err
	}
	part, err := waitPartition(ctx, sys, d.Name, 10*time.Second)
	if err != nil {
		return "", err
	}
	return part, MakeFS(ctx, part, tools, log)
}

// PartitionDisk writes the recording disk's GPT onto d (see Format) and has the
// kernel read it. It returns the partition's byte offset.
func PartitionDisk(d Disk) (int64, error) {
	if d.InUse != "" {
		return 0, fmt.Errorf("disks: %s is in use (mounted on %s): not formatting it", d.Dev, d.InUse)
	}
	if d.ReadOnly {
		return 0, fmt.Errorf("disks: %s is read-only", d.Dev)
	}
	f, err := os.OpenFile(d.Dev, os.O_RDWR|unix.O_EXCL, 0)
	if err != nil {
		return 0, fmt.Errorf("disks: open %s: %w", d.Dev, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil && size != d.SizeBytes {
		err = fmt.Errorf("its size is now %d bytes, not %d: another disk?", size, d.SizeBytes)
	}
	var off int64
	if err == nil {
		off, _, err = gpt.Write(f, size, d.SectorSize, PartName)
	}
	if err == nil {
		// No old file system signature at the partition's start survives
		// (mke2fs writes its own, but a stale one must not be probed first).
		_, err = f.WriteAt(make([]byte, 1<<20), off)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		// The kernel reads the new table (a regular file has no table to read).
		if rerr := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); rerr != nil && !errors.Is(rerr, unix.ENOTTY) {
			err = fmt.Errorf("re-read partition table: %w", rerr)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("disks: partition %s: %w", d.Dev, err)
	}
	return off, nil
}

// MakeFS creates the recording disk's ext4 file system on part. The inode
// tables and the journal are zeroed lazily by the kernel after mounting, so
// that formatting a large disk takes seconds.
func MakeFS(ctx context.Context, part string, tools Tools, log io.Writer) error {
	cmd := exec.CommandContext(ctx, tools.Mkfs, "-q", "-F", "-t", "ext4", "-L", PartName, "-m", "0",
		"-E", "lazy_itable_init=1,lazy_journal_init=1", part)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("disks: mke2fs %s: %w", part, err)
	}
	return nil
}

// waitPartition waits for the kernel to list partition 1 of disk and for
// its device node, and returns the node.
func waitPartition(ctx context.Context, sys Sys, disk string, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		ents, _ := os.ReadDir(filepath.Join(sys.Block, disk))
		for _, e := range ents {
			if readInt(filepath.Join(sys.Block, disk, e.Name(), "partition")) == 1 {
				dev := filepath.Join(sys.Dev, e.Name())
				if _, err := os.Stat(dev); err == nil {
					return dev, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("disks: partition 1 of %s did not appear", disk)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Mount checks the ext4 file system on part (e2fsck -p: the disk may have
// been pulled out mid-write) and mounts it on dir. It refuses anything but
// ext4: nothing is ever formatted here.
func Mount(ctx context.Context, part, dir string, tools Tools, log io.Writer) error {
	kind, err := probe(part, 0)
	if err != nil {
		return fmt.Errorf("disks: read %s: %w", part, err)
	}
	if kind != datapart.Ext4 {
		return fmt.Errorf("disks: %s holds %s, not ext4: not mounting it", part, kind)
	}
	if _, err := datapart.Fsck(ctx, tools.Fsck, part, log); err != nil {
		return fmt.Errorf("disks: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("disks: %w", err)
	}
	if err := unix.Mount(part, dir, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, "errors=remount-ro"); err != nil {
		return fmt.Errorf("disks: mount %s on %s: %w", part, dir, err)
	}
	return nil
}

// Unmount detaches dir at once (MNT_DETACH): the disk may be gone, and
// files still open on it must not hold the box up.
func Unmount(dir string) error {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("disks: unmount %s: %w", dir, err)
	}
	return nil
}

// IsMountPoint reports whether dir is a mount point (its device differs
// from its parent's): the recording disk's folder is recorded to only then,
// never the card below it.
func IsMountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}
