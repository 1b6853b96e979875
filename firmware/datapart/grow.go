package datapart

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/firmware/gpt"
)

// Growing the data partition to the end of the disk on first boot (and
// after a card is cloned onto a larger one). The partition table is
// written in the order that survives a power cut at any point:
//
//  1. the backup GPT (entries, then header) at the disk's new end, with
//     the partition extended. The primary still describes the old layout
//     and points at the old backup, so a cut here boots the old layout
//     and the next boot grows again;
//  2. the primary GPT, header and changed entry sector in one write. A cut
//     that leaves it half written makes the primary invalid; the backup
//     written in step 1 is then whole, and RepairGPT (or the UEFI
//     firmware) rebuilds the primary from it;
//  3. the kernel is told the partition's new size (BLKPG_RESIZE_PARTITION,
//     which works while other partitions of the disk are in use).

// Grow phases, in order. Init reports each on the console before it runs
// (and a test can cut the power there).
const (
	PhaseBackup  = "backup"  // write the backup GPT at the new end
	PhasePrimary = "primary" // write the primary GPT
	PhaseKernel  = "kernel"  // tell the kernel the new size
	PhaseFormat  = "format"  // create the file system (Prepare)
	PhaseResize  = "resize"  // grow an existing ext4 (Prepare)
)

// Growth says what growing did.
type Growth struct {
	Disk      string
	Partition int   // Linux partition number
	Start     int64 // bytes
	OldSize   int64
	NewSize   int64
}

// Grown reports whether the partition got bigger.
func (g Growth) Grown() bool { return g.NewSize > g.OldSize }

// GrowGPT extends the partition at entry index (0-based) of the GPT on f
// (a disk of size bytes with the given logical sector size) to the last
// 1 MiB boundary before the backup GPT at the disk's end. It must be the
// last partition on the disk. pause (may be nil) is called before each
// write phase.
func GrowGPT(f *os.File, size, sector int64, index int, pause func(phase string)) (Growth, error) {
	g := Growth{Disk: f.Name(), Partition: index + 1}
	if pause == nil {
		pause = func(string) {}
	}
	h, ents, err := gpt.Read(f, 1, sector)
	if err != nil {
		return g, fmt.Errorf("%s: primary GPT: %w", f.Name(), err)
	}
	var part *gpt.Entry
	all := gpt.Entries(h, ents)
	for i := range all {
		if all[i].Index == index {
			part = &all[i]
		}
	}
	if part == nil {
		return g, fmt.Errorf("%s: no partition %d in the GPT", f.Name(), index+1)
	}
	for _, e := range all {
		if e.First > part.Last {
			return g, fmt.Errorf("%s: partition %d (%s) is not the last one: %s starts after it", f.Name(), index+1, part.Name, e.Name)
		}
	}
	g.Start = int64(part.First) * sector
	g.OldSize = int64(part.Last-part.First+1) * sector
	g.NewSize = g.OldSize

	lastLBA := size/sector - 1
	entSectors := gpt.SectorsFor(h.EntriesBytes(), sector)
	lastUsable := lastLBA - entSectors - 1
	perAlign := int64(gpt.Align) / sector
	newLast := (lastUsable+1)/perAlign*perAlign - 1
	if newLast <= int64(part.Last) {
		return g, nil // nothing to gain (or the disk is the image's size)
	}

	gpt.SetLast(h, ents, index, uint64(newLast))
	h.EntriesCRC = crc32.ChecksumIEEE(ents)
	h.LastUsable = uint64(lastUsable)
	backup := h
	backup.Current, backup.Backup = uint64(lastLBA), 1
	backup.EntriesLBA = uint64(lastLBA - entSectors)

	pause(PhaseBackup)
	if _, err := f.WriteAt(ents, int64(backup.EntriesLBA)*sector); err != nil {
		return g, fmt.Errorf("%s: write backup GPT entries: %w", f.Name(), err)
	}
	if _, err := f.WriteAt(backup.Marshal(sector), lastLBA*sector); err != nil {
		return g, fmt.Errorf("%s: write backup GPT header: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return g, fmt.Errorf("%s: sync backup GPT: %w", f.Name(), err)
	}

	pause(PhasePrimary)
	primary := h
	primary.Backup = uint64(lastLBA)
	if err := writePrimary(f, primary, ents, sector, index); err != nil {
		return g, err
	}
	// The protective MBR's 0xEE partition covers the whole disk; only
	// tools look at its size, so it goes last.
	if err := fixPMBR(f, lastLBA); err != nil {
		return g, err
	}
	g.NewSize = (newLast - int64(part.First) + 1) * sector
	return g, nil
}

// fixPMBR sets the protective MBR's partition size to the disk's.
func fixPMBR(f *os.File, lastLBA int64) error {
	mbr := make([]byte, 512)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("%s: read protective MBR: %w", f.Name(), err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA || mbr[446+4] != 0xEE {
		return nil
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], gpt.PMBRSize(lastLBA))
	if _, err := f.WriteAt(b[:], 446+12); err != nil {
		return fmt.Errorf("%s: write protective MBR: %w", f.Name(), err)
	}
	return f.Sync()
}

// writePrimary writes the primary header and the entry array; when the
// array follows the header (the usual LBA 2), the header and the sector
// holding the changed entry go in one write.
func writePrimary(f *os.File, h gpt.Header, ents []byte, sector int64, index int) error {
	hdr := h.Marshal(sector)
	entOff := int64(index) * int64(h.EntrySize)
	entSector := entOff / sector
	if h.EntriesLBA == 2 {
		// The entries before and after the changed sector did not change.
		if entSector > 0 {
			if _, err := f.WriteAt(ents[:entSector*sector], 2*sector); err != nil {
				return fmt.Errorf("%s: write primary GPT entries: %w", f.Name(), err)
			}
		}
		if rest := ents[min(int64(len(ents)), (entSector+1)*sector):]; len(rest) > 0 {
			if _, err := f.WriteAt(rest, (3+entSector)*sector); err != nil {
				return fmt.Errorf("%s: write primary GPT entries: %w", f.Name(), err)
			}
		}
		buf := hdr
		if entSector == 0 {
			buf = append(append([]byte(nil), hdr...), ents[:min(int64(len(ents)), sector)]...)
			if _, err := f.WriteAt(buf, sector); err != nil {
				return fmt.Errorf("%s: write primary GPT: %w", f.Name(), err)
			}
		} else {
			if _, err := f.WriteAt(ents[entSector*sector:(entSector+1)*sector], (2+entSector)*sector); err != nil {
				return fmt.Errorf("%s: write primary GPT entries: %w", f.Name(), err)
			}
			if _, err := f.WriteAt(hdr, sector); err != nil {
				return fmt.Errorf("%s: write primary GPT header: %w", f.Name(), err)
			}
		}
	} else {
		if _, err := f.WriteAt(ents, int64(h.EntriesLBA)*sector); err != nil {
			return fmt.Errorf("%s: write primary GPT entries: %w", f.Name(), err)
		}
		if _, err := f.WriteAt(hdr, sector); err != nil {
			return fmt.Errorf("%s: write primary GPT header: %w", f.Name(), err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: sync primary GPT: %w", f.Name(), err)
	}
	return nil
}

// RepairGPT rebuilds a damaged primary GPT from a whole backup at the
// disk's last LBA (what a power cut in the middle of GrowGPT's second
// step leaves), when that backup holds a partition named label. It
// reports whether it wrote anything; a valid primary is left alone.
func RepairGPT(f *os.File, size, sector int64, label string) (bool, error) {
	if _, _, err := gpt.Read(f, 1, sector); err == nil {
		return false, nil
	} else if !errors.Is(err, gpt.ErrNoGPT) {
		return false, err
	}
	lastLBA := size/sector - 1
	h, ents, err := gpt.Read(f, lastLBA, sector)
	if err != nil {
		return false, fmt.Errorf("%s: primary GPT damaged and no backup at the end: %w", f.Name(), err)
	}
	ours := false
	for _, e := range gpt.Entries(h, ents) {
		ours = ours || e.Name == label
	}
	if !ours {
		return false, fmt.Errorf("%s: the backup GPT has no partition named %s: not ours to repair: %w", f.Name(), label, gpt.ErrNoGPT)
	}
	h.Current, h.Backup, h.EntriesLBA = 1, uint64(lastLBA), 2
	if _, err := f.WriteAt(ents, 2*sector); err != nil {
		return false, fmt.Errorf("%s: write primary GPT entries: %w", f.Name(), err)
	}
	if _, err := f.WriteAt(h.Marshal(sector), sector); err != nil {
		return false, fmt.Errorf("%s: write primary GPT header: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("%s: sync primary GPT: %w", f.Name(), err)
	}
	return true, fixPMBR(f, lastLBA)
}

// partitionOf returns the disk (/dev/NAME) a partition device belongs to
// and its Linux partition number, from sysBlock (/sys/class/block).
func partitionOf(sysBlock, dev string) (disk string, pno int, err error) {
	name := filepath.Base(dev)
	b, err := os.ReadFile(filepath.Join(sysBlock, name, "partition"))
	if err != nil {
		return "", 0, fmt.Errorf("%s is not a partition: %w", dev, err)
	}
	pno, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return "", 0, fmt.Errorf("%s: partition number %q: %w", dev, b, err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(sysBlock, name))
	if err != nil {
		return "", 0, fmt.Errorf("%s in sysfs: %w", dev, err)
	}
	return "/dev/" + filepath.Base(filepath.Dir(real)), pno, nil
}

// GrowDevice grows the partition dev (e.g. /dev/vda2) to the end of its
// disk (GrowGPT) and makes the kernel see the new size. sysBlock is
// /sys/class/block.
func GrowDevice(dev, sysBlock string, pause func(phase string)) (Growth, error) {
	disk, pno, err := partitionOf(sysBlock, dev)
	if err != nil {
		return Growth{}, err
	}
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		return Growth{Disk: disk}, fmt.Errorf("open %s: %w", disk, err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return Growth{Disk: disk}, fmt.Errorf("size of %s: %w", disk, err)
	}
	sector := int64(512)
	if s, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && s > 0 {
		sector = int64(s)
	}
	g, err := GrowGPT(f, size, sector, pno-1, pause)
	g.Disk = disk
	if err != nil || !g.Grown() {
		return g, err
	}
	if pause != nil {
		pause(PhaseKernel)
	}
	if err := resizePartition(f, pno, g.Start, g.NewSize); err != nil {
		return g, fmt.Errorf("%s: the partition table is grown but the kernel still uses the old size (it will after a reboot): %w", dev, err)
	}
	return g, nil
}

// resizePartition tells the kernel a partition's new extent.
func resizePartition(disk *os.File, pno int, start, length int64) error {
	p := unix.BlkpgPartition{Start: start, Length: length, Pno: int32(pno)}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_RESIZE_PARTITION, Datalen: int32(unsafe.Sizeof(p)), Data: (*byte)(unsafe.Pointer(&p))}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, disk.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	if errno == 0 {
		return nil
	}
	// Re-reading the whole table works only when no partition is in use.
	if err := unix.IoctlSetInt(int(disk.Fd()), unix.BLKRRPART, 0); err != nil {
		return fmt.Errorf("BLKPG_RESIZE_PARTITION: %w; BLKRRPART: %w", errno, err)
	}
	return nil
}

// RepairDisks looks at every whole disk in sysBlock for a damaged primary
// GPT with a whole backup holding a partition named label, and rebuilds
// it (then has the kernel read the table again). It returns the disks
// repaired.
func RepairDisks(sysBlock, label string) ([]string, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var fixed []string
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if _, err := os.Stat(filepath.Join(sysBlock, name, "partition")); err == nil {
			continue
		}
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		dev := "/dev/" + name
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		size, _ := f.Seek(0, io.SeekEnd)
		sector := int64(512)
		if s, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && s > 0 {
			sector = int64(s)
		}
		ok, err := RepairGPT(f, size, sector, label)
		if err != nil && !errors.Is(err, gpt.ErrNoGPT) {
			errs = append(errs, err)
		}
		if ok {
			fixed = append(fixed, dev)
			if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); err != nil {
				errs = append(errs, fmt.Errorf("%s: re-read partitions: %w", dev, err))
			}
		}
		f.Close()
	}
	return fixed, errors.Join(errs...)
}
