// Package disk writes the flashable disk image without root or loop
// devices: a GPT (sfdisk on a plain file) with a FAT32 boot partition
// (mkfs.vfat -C, files added with mtools), optionally two FAT32 firmware
// slot partitions A and B, and, last so that it can grow to the end of
// the disk on first boot, a data partition left empty for init to format.
//
// The layout is laid out once for good (see image/README.md):
//
//	p1 matthan-boot  ESP   boot partition (qemu-virt: systemd-boot, loader
//	                       entries and both slots as folders; rpi4: autoboot.txt)
//	p2 matthan-a     FAT   firmware slot A (rpi4 only: SlotMiB > 0)
//	p3 matthan-b     FAT   firmware slot B, empty until the first update
//	pN matthan-data  ext4  recordings and configuration; last, grows
//
// Same inputs, same bytes: the GPT and partition GUIDs, the FAT volume id
// and every file's timestamp are fixed, and files are added in sorted order.
package disk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	mib = 1 << 20
	// FirstMiB is where the boot partition starts (1 MiB alignment).
	FirstMiB = 1
	// Partition names in the GPT; init finds the data partition by name.
	BootName  = "matthan-boot"
	SlotAName = "matthan-a"
	SlotBName = "matthan-b"
	DataName  = "matthan-data"
)

// Fixed identifiers, so the image is reproducible.
const (
	diskGUID  = "4D415448-414E-0000-0000-000000000001"
	bootGUID  = "4D415448-414E-0000-0000-0000000000B0"
	dataGUID  = "4D415448-414E-0000-0000-0000000000DA"
	slotAGUID = "4D415448-414E-0000-0000-0000000000A1"
	slotBGUID = "4D415448-414E-0000-0000-0000000000B1"
	espType   = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	basicData = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" // FAT data partition
	linuxFS   = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	volumeID  = "4d415448"
	slotAID   = "4d41540a"
	slotBID   = "4d41540b"
)

// FileTime is the timestamp every file on the boot partition carries.
var FileTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Spec says what to write.
type Spec struct {
	Path    string
	BootMiB int
	// SlotMiB is the size of each firmware slot partition (0: no slot
	// partitions; the slots are folders on the boot partition).
	SlotMiB int
	DataMiB int
	// Boot maps paths on the boot partition ("EFI/BOOT/BOOTAA64.EFI") to
	// files on the build machine.
	Boot map[string]string
	// SlotA is slot A's content (with SlotMiB > 0); slot B is left an
	// empty FAT.
	SlotA map[string]string
	// Scratch is a folder for temporary files (default: next to Path).
	Scratch string
}

// Layout gives the partitions' byte offsets and sizes.
type Layout struct {
	BootOffset, BootSize               int64
	SlotAOffset, SlotBOffset, SlotSize int64 // SlotSize 0: no slot partitions
	DataOffset, DataSize               int64
	Total                              int64
}

// LayoutOf computes where the partitions go.
func LayoutOf(s Spec) Layout {
	l := Layout{
		BootOffset: FirstMiB * mib,
		BootSize:   int64(s.BootMiB) * mib,
	}
	next := l.BootOffset + l.BootSize
	if s.SlotMiB > 0 {
		l.SlotSize = int64(s.SlotMiB) * mib
		l.SlotAOffset = next
		l.SlotBOffset = next + l.SlotSize
		next += 2 * l.SlotSize
	}
	l.DataOffset = next
	l.DataSize = int64(s.DataMiB) * mib
	l.Total = l.DataOffset + l.DataSize + mib // room for the backup GPT
	return l
}

// Write builds the image at s.Path (replacing it) and returns its layout.
func Write(ctx context.Context, s Spec) (Layout, error) {
	l := LayoutOf(s)
	if s.BootMiB < 64 || (s.SlotMiB > 0 && s.SlotMiB < 64) {
		return l, fmt.Errorf("boot %d MiB, slots %d MiB: FAT32 needs at least 64", s.BootMiB, s.SlotMiB)
	}
	scratch := s.Scratch
	if scratch == "" {
		scratch = filepath.Dir(s.Path)
	}
	work, err := os.MkdirTemp(scratch, "disk-")
	if err != nil {
		return l, fmt.Errorf("disk image: %w", err)
	}
	defer os.RemoveAll(work)

	tmp := s.Path + ".tmp"
	os.Remove(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		return l, fmt.Errorf("disk image: %w", err)
	}
	defer os.Remove(tmp)
	if err := f.Truncate(l.Total); err != nil {
		f.Close()
		return l, fmt.Errorf("disk image size: %w", err)
	}
	f.Close()

	if err := partition(ctx, tmp, l); err != nil {
		return l, err
	}
	fats := []fatPart{{"boot", volumeID, "MATTHANBOOT", s.BootMiB, s.Boot, l.BootOffset}}
	if s.SlotMiB > 0 {
		fats = append(fats,
			fatPart{"slot-a", slotAID, "MATTHAN-A", s.SlotMiB, s.SlotA, l.SlotAOffset},
			fatPart{"slot-b", slotBID, "MATTHAN-B", s.SlotMiB, nil, l.SlotBOffset})
	}
	for _, p := range fats {
		fat := filepath.Join(work, p.name+".fat")
		if err := makeFAT(ctx, fat, p.id, p.label, p.mib, p.files, filepath.Join(work, p.name)); err != nil {
			return l, err
		}
		if err := CopySparse(tmp, fat, p.offset); err != nil {
			return l, err
		}
	}
	if err := os.Rename(tmp, s.Path); err != nil {
		return l, fmt.Errorf("disk image: %w", err)
	}
	return l, nil
}

// fatPart is one FAT partition to make and place.
type fatPart struct {
	name, id, label string
	mib             int
	files           map[string]string
	offset          int64
}

func run(ctx context.Context, stdin string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "MTOOLS_SKIP_CHECK=1", fmt.Sprintf("SOURCE_DATE_EPOCH=%d", FileTime.Unix()))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func partition(ctx context.Context, path string, l Layout) error {
	const sector = 512
	script := fmt.Sprintf(`label: gpt
label-id: %s
unit: sectors
first-lba: 2048
start=%d, size=%d, type=%s, uuid=%s, name="%s", attrs="LegacyBIOSBootable"
`, diskGUID, l.BootOffset/sector, l.BootSize/sector, espType, bootGUID, BootName)
	if l.SlotSize > 0 {
		script += fmt.Sprintf("start=%d, size=%d, type=%s, uuid=%s, name=\"%s\"\n",
			l.SlotAOffset/sector, l.SlotSize/sector, basicData, slotAGUID, SlotAName)
		script += fmt.Sprintf("start=%d, size=%d, type=%s, uuid=%s, name=\"%s\"\n",
			l.SlotBOffset/sector, l.SlotSize/sector, basicData, slotBGUID, SlotBName)
	}
	script += fmt.Sprintf("start=%d, size=%d, type=%s, uuid=%s, name=\"%s\"\n",
		l.DataOffset/sector, l.DataSize/sector, linuxFS, dataGUID, DataName)
	return run(ctx, script, "sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", path)
}

func makeFAT(ctx context.Context, fat, id, label string, sizeMiB int, files map[string]string, stage string) error {
	blocks := sizeMiB * 1024 // mkfs.vfat counts 1 KiB blocks
	if err := run(ctx, "", "mkfs.vfat", "-C", "--invariant", "-i", id, "-F", "32",
		"-n", label, fat, fmt.Sprint(blocks)); err != nil {
		return err
	}
	// Stage the tree with fixed timestamps, then copy it in sorted order.
	var names []string
	for dst := range files {
		names = append(names, dst)
	}
	sort.Strings(names)
	for _, dst := range names {
		p := filepath.Join(stage, filepath.FromSlash(dst))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := CopyFile(files[dst], p); err != nil {
			return fmt.Errorf("boot file %s: %w", dst, err)
		}
	}
	var dirs []string
	filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Chtimes(p, FileTime, FileTime)
			if d.IsDir() && p != stage {
				dirs = append(dirs, p)
			}
		}
		return nil
	})
	sort.Strings(dirs)
	for _, d := range dirs {
		rel, _ := filepath.Rel(stage, d)
		if err := run(ctx, "", "mmd", "-i", fat, "::/"+filepath.ToSlash(rel)); err != nil {
			return err
		}
	}
	for _, dst := range names {
		p := filepath.Join(stage, filepath.FromSlash(dst))
		if err := run(ctx, "", "mcopy", "-m", "-o", "-i", fat, p, "::/"+dst); err != nil {
			return err
		}
	}
	return nil
}

// CopyFile copies src to dst, through dst.tmp renamed into place, so that
// dst is never a partial copy.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst + ".tmp")
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(dst+".tmp", dst)
}

// CopySparse writes src into the existing file dst at offset, leaving
// src's zero blocks unwritten: holes, where dst was freshly truncated
// (they read as zeros). The image's boot partition; matthan-run's copy
// of the image as the box's disk.
func CopySparse(dst, src string, offset int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	at := offset
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, werr := out.WriteAt(buf[:n], at); werr != nil {
				out.Close()
				return fmt.Errorf("write %s: %w", dst, werr)
			}
		}
		at += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			out.Close()
			return fmt.Errorf("read %s: %w", src, err)
		}
	}
	return out.Close()
}

// SHA256 returns a file's SHA-256 in hex and its size.
func SHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
