// Package flash writes a firmware image to an SD card, a USB disk or a
// file, shows progress, reads the target back to verify it, and refuses
// targets that are mounted, hold the running system, serve as swap, or
// are too small.
package flash

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune a flash.
type Options struct {
	// Progress receives the progress bar (may be nil).
	Progress io.Writer
	// NoVerify skips reading the target back.
	NoVerify bool
	// MountInfo and Swaps are /proc/self/mountinfo and /proc/swaps
	// (tests give their own).
	MountInfo, Swaps string
	// Sys is where sysfs is mounted (default /sys).
	Sys string
}

// Result is what was written.
type Result struct {
	// Bytes is the image size; Written what was actually written (the
	// image's non-zero chunks, plus zeros the target could not make
	// itself).
	Bytes    int64
	Written  int64
	SHA256   string
	Verified bool
	Took     time.Duration
}

// ErrRefused marks targets the tool will not write.
var ErrRefused = errors.New("refusing to write")

// Check says whether dst may be overwritten with an image of size bytes.
func Check(dst string, size int64, o Options) error {
	real, err := filepath.EvalSymlinks(dst)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new file
	}
	if err != nil {
		return fmt.Errorf("target %s: %w", dst, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("target %s: %w", dst, err)
	}
	if st.Mode().IsRegular() {
		return nil
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return fmt.Errorf("%w %s: not a block device or a file", ErrRefused, dst)
	}
	mi := o.MountInfo
	if mi == "" {
		mi = "/proc/self/mountinfo"
	}
	raw, err := os.ReadFile(mi)
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	sys := o.Sys
	if sys == "" {
		sys = "/sys"
	}
	if disk, err := WholeDisk(sys, real); err == nil {
		if root, used := MountedDisks(raw, sys); len(used[disk]) > 0 {
			if slices.Contains(root, disk) {
				return fmt.Errorf("%w %s: it holds the running system (/ is on %s)", ErrRefused, dst, disk)
			}
			return fmt.Errorf("%w %s: mounted (%s); unmount it first", ErrRefused, dst, strings.Join(used[disk], ", "))
		}
	}
	if m := MountedFrom(raw, real); len(m) > 0 {
		return fmt.Errorf("%w %s: mounted (%s); unmount it first — if it holds the running system, pick another disk",
			ErrRefused, dst, strings.Join(m, ", "))
	}
	sw := o.Swaps
	if sw == "" {
		sw = "/proc/swaps"
	}
	if raw, err := os.ReadFile(sw); err == nil {
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 0 && sameDisk(f[0], real) {
				return fmt.Errorf("%w %s: %s is used as swap", ErrRefused, dst, f[0])
			}
		}
	}
	if devSize, err := blockSize(real); err == nil && devSize < size {
		return fmt.Errorf("%w %s: %d bytes, the image needs %d", ErrRefused, dst, devSize, size)
	}
	return nil
}

// MountedFrom lists the mount points whose source is dev or one of its
// partitions, from mountinfo content.
func MountedFrom(mountinfo []byte, dev string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// ... mountpoint (4) ... " - " fstype source options
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+3 || len(f) < 5 {
			continue
		}
		if sameDisk(f[sep+2], dev) {
			out = append(out, f[4]+" ("+f[sep+2]+")")
		}
	}
	return out
}

// sameDisk reports whether src is dev or a partition of it (/dev/sdb1,
// /dev/mmcblk0p2, /dev/nvme0n1p1 for /dev/sdb, /dev/mmcblk0, /dev/nvme0n1).
func sameDisk(src, dev string) bool {
	if r, err := filepath.EvalSymlinks(src); err == nil {
		src = r
	}
	if src == dev {
		return true
	}
	rest, ok := strings.CutPrefix(src, dev)
	if !ok || rest == "" {
		return false
	}
	rest = strings.TrimPrefix(rest, "p")
	return strings.Trim(rest, "0123456789") == ""
}

// MountedDisks maps each whole disk (its kernel name: sda, mmcblk0,
// loop3) to the mount points of file systems on it or on its partitions,
// following device-mapper stacks to the disks beneath; root lists the disks
// holding "/". It reads device numbers from mountinfo, so it also sees
// sources named /dev/root.
func MountedDisks(mountinfo []byte, sys string) (root []string, used map[string][]string) {
	used = map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		majmin := f[2]
		if strings.HasPrefix(majmin, "0:") {
			continue // no block device (proc, tmpfs, overlay)
		}
		for _, d := range disksOf(sys, majmin, 0) {
			used[d] = append(used[d], f[4])
			if f[4] == "/" {
				root = append(root, d)
			}
		}
	}
	return root, used
}

// disksOf resolves a block device number to the whole disks beneath it.
func disksOf(sys, majmin string, depth int) []string {
	p, err := filepath.EvalSymlinks(filepath.Join(sys, "dev/block", majmin))
	if err != nil || depth > 8 {
		return nil
	}
	return disksBelow(p, depth)
}

func disksBelow(p string, depth int) []string {
	if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
		return []string{filepath.Base(filepath.Dir(p))}
	}
	slaves, _ := os.ReadDir(filepath.Join(p, "slaves"))
	if len(slaves) == 0 {
		return []string{filepath.Base(p)}
	}
	var out []string
	for _, s := range slaves {
		q, err := filepath.EvalSymlinks(filepath.Join(p, "slaves", s.Name()))
		if err == nil && depth < 8 {
			out = append(out, disksBelow(q, depth+1)...)
		}
	}
	return out
}

// WholeDisk returns the kernel name of the disk a block device node is
// (or is a partition of).
func WholeDisk(sys, dev string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", dev, err)
	}
	majmin := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	p, err := filepath.EvalSymlinks(filepath.Join(sys, "dev/block", majmin))
	if err != nil {
		return "", fmt.Errorf("%s (%s) in sysfs: %w", dev, majmin, err)
	}
	if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
		return filepath.Base(filepath.Dir(p)), nil
	}
	return filepath.Base(p), nil
}

func blockSize(dev string) (int64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// chunk is the unit of zero detection: an all-zero chunk of the image is
// not written (it is made zero on the target some cheaper way).
const chunk = 64 << 10

// Write copies image to dst (after Check), syncs, and reads it back.
//
// All-zero chunks of the image are not written: a file target is created
// empty (holes read as zeros); on a block device a run of zero chunks is
// zeroed by the device itself (fallocate PUNCH_HOLE, which the kernel turns
// into WRITE ZEROES/unmap with no fallback to writing), or, when the
// device cannot, read and overwritten only where it is not already zero.
// So flashing writes the boot partitions, not the card, and a used card
// reads back exactly as the image: its old data partition is blank again.
// A stale backup GPT at the end of a larger device is zeroed too.
func Write(ctx context.Context, image, dst string, o Options) (Result, error) {
	var res Result
	start := time.Now()
	in, err := os.Open(image)
	if err != nil {
		return res, fmt.Errorf("image: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return res, err
	}
	size := st.Size()
	if a, b := absPath(image), absPath(dst); a == b {
		return res, fmt.Errorf("%w %s: it is the image itself", ErrRefused, dst)
	}
	if err := Check(dst, size, o); err != nil {
		return res, err
	}
	block := isBlock(dst)
	// On a block device O_EXCL without O_CREAT means: fail if anything
	// (a mount, a holder, another O_EXCL open) holds it.
	flags := os.O_WRONLY | unix.O_EXCL
	if !block {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	out, err := os.OpenFile(dst, flags, 0o644)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return res, fmt.Errorf("%w %s: the device is in use (mounted or held by another program): %w", ErrRefused, dst, err)
		}
		return res, fmt.Errorf("open %s: %w", dst, err)
	}
	defer out.Close()
	z := &zeroer{out: out, block: block, name: dst}
	if block {
		if z.in, err = os.Open(dst); err != nil {
			return res, fmt.Errorf("open %s for reading: %w", dst, err)
		}
		defer z.in.Close()
	}
	h := sha256.New()
	bar := &progress{w: o.Progress, total: size, label: "ghi / write ", start: time.Now()}
	buf := make([]byte, 4<<20)
	var at int64
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			h.Write(buf[:n])
			for off := 0; off < n; off += chunk {
				b := buf[off:min(off+chunk, n)]
				if allZero(b) {
					if err := z.add(at+int64(off), int64(len(b))); err != nil {
						return res, err
					}
					continue
				}
				if err := z.flush(); err != nil {
					return res, err
				}
				if _, err := out.WriteAt(b, at+int64(off)); err != nil {
					return res, fmt.Errorf("write %s at %d: %w", dst, at+int64(off), err)
				}
				res.Written += int64(len(b))
			}
			at += int64(n)
			bar.update(at)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return res, fmt.Errorf("read image: %w", rerr)
		}
	}
	if err := z.flush(); err != nil {
		return res, err
	}
	res.Bytes = at
	res.Written += z.written
	if block {
		// A backup GPT left at the end of the device by an earlier
		// flash and grow would describe a layout that is not there.
		if devSize, err := blockSize(dst); err == nil && devSize-staleGPT >= size {
			if err := z.add(devSize-staleGPT, staleGPT); err != nil {
				return res, err
			}
			if err := z.flush(); err != nil {
				return res, err
			}
		}
	} else if err := out.Truncate(size); err != nil {
		return res, fmt.Errorf("size %s: %w", dst, err)
	}
	bar.done()
	if err := out.Sync(); err != nil {
		return res, fmt.Errorf("sync %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return res, fmt.Errorf("close %s: %w", dst, err)
	}
	res.SHA256 = fmt.Sprintf("%x", h.Sum(nil))
	if !o.NoVerify {
		if err := Verify(ctx, image, dst, o.Progress); err != nil {
			return res, err
		}
		res.Verified = true
	}
	res.Took = time.Since(start)
	return res, nil
}

// staleGPT is how much of a device's end Write zeroes: a backup GPT
// (header in the last sector, 16 KiB of entries before it) with 4 KiB
// sectors fits.
const staleGPT = 1 << 20

// deviceZeroing lets zeroer ask the device to zero (tests turn it off to
// cover cards that cannot).
var deviceZeroing = true

// zeroer makes runs of the target zero without writing them when it can.
type zeroer struct {
	out, in  *os.File // in: a read handle on a block device
	block    bool
	name     string
	off, len int64 // the pending run
	written  int64 // zero bytes that had to be written
	buf      []byte
}

func (z *zeroer) add(off, n int64) error {
	if z.len > 0 && z.off+z.len == off {
		z.len += n
		return nil
	}
	if err := z.flush(); err != nil {
		return err
	}
	z.off, z.len = off, n
	return nil
}

func (z *zeroer) flush() error {
	off, n := z.off, z.len
	z.len = 0
	if n == 0 || !z.block {
		return nil // a new file: holes read as zeros
	}
	// Zeroing done by the device (WRITE ZEROES, or an unmap that reads
	// back as zeros); the kernel never falls back to writing for this mode.
	if deviceZeroing {
		if err := unix.Fallocate(int(z.out.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n); err == nil {
			return nil
		}
	}
	// Otherwise read, and write zeros only where the card holds data.
	if z.buf == nil {
		z.buf = make([]byte, 1<<20)
	}
	for done := int64(0); done < n; {
		b := z.buf[:min(int64(len(z.buf)), n-done)]
		if _, err := z.in.ReadAt(b, off+done); err != nil {
			return fmt.Errorf("read %s at %d: %w", z.name, off+done, err)
		}
		for i := 0; i < len(b); i += chunk {
			c := b[i:min(i+chunk, len(b))]
			if allZero(c) {
				continue
			}
			clear(c)
			if _, err := z.out.WriteAt(c, off+done+int64(i)); err != nil {
				return fmt.Errorf("zero %s at %d: %w", z.name, off+done+int64(i), err)
			}
			z.written += int64(len(c))
		}
		done += int64(len(b))
	}
	return nil
}

func allZero(b []byte) bool {
	var zero [chunk]byte
	for len(b) > 0 {
		n := min(len(b), len(zero))
		if !bytes.Equal(b[:n], zero[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// Verify reads the first len(image) bytes of dst back from the device
// (not from the page cache) and compares them with image, naming the
// first offset that differs.
func Verify(ctx context.Context, image, dst string, w io.Writer) error {
	a, err := os.Open(image)
	if err != nil {
		return fmt.Errorf("verify: image: %w", err)
	}
	defer a.Close()
	st, err := a.Stat()
	if err != nil {
		return fmt.Errorf("verify: image: %w", err)
	}
	size := st.Size()
	want := make([]byte, 4<<20)
	got := make([]byte, len(want))
	var f *os.File
	if isBlock(dst) {
		// O_DIRECT reads come from the device, not the page cache, and
		// are faster; they need an aligned buffer (mmap gives pages).
		if buf, err := unix.Mmap(-1, 0, len(got), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE); err == nil {
			defer unix.Munmap(buf)
			if f, err = os.OpenFile(dst, os.O_RDONLY|unix.O_DIRECT, 0); err == nil {
				got = buf
			}
		}
	}
	if f == nil {
		if f, err = os.Open(dst); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		// Drop cached pages so the read comes from the device.
		unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	}
	defer f.Close()
	bar := &progress{w: w, total: size, label: "kiểm / verify", start: time.Now()}
	var done int64
	for done < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(int64(len(want)), size-done))
		if _, err := io.ReadFull(a, want[:n]); err != nil {
			return fmt.Errorf("verify: read image at %d: %w", done, err)
		}
		rn := (n + 4095) &^ 4095 // whole sectors for O_DIRECT; only n are compared
		m, err := f.ReadAt(got[:rn], done)
		if m < n {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("verify: %s ends at %d bytes, image has %d", dst, done+int64(m), size)
			}
			return fmt.Errorf("verify: read %s at %d: %w", dst, done+int64(m), err)
		}
		if !bytes.Equal(want[:n], got[:n]) {
			i := 0
			for want[i] == got[i] {
				i++
			}
			return fmt.Errorf("verify: %s differs from the image at byte %d: the card may be failing, or something wrote to it", dst, done+int64(i))
		}
		done += int64(n)
		bar.update(done)
	}
	bar.done()
	return nil
}

func isBlock(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0
}

func absPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	a, _ := filepath.Abs(p)
	return a
}

// progress draws "label [#####.....]  45%  120/260 MiB  30.1 MiB/s".
type progress struct {
	w     io.Writer
	total int64
	label string
	start time.Time
	last  time.Time
}

func (p *progress) update(n int64) {
	if p.w == nil || (time.Since(p.last) < 200*time.Millisecond && n < p.total) {
		return
	}
	p.last = time.Now()
	fmt.Fprint(p.w, "\r"+Bar(p.label, n, p.total, time.Since(p.start)))
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}

// Bar renders one progress line.
func Bar(label string, n, total int64, took time.Duration) string {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = float64(n) / float64(total)
	}
	fill := int(frac * width)
	rate := 0.0
	if s := took.Seconds(); s > 0 {
		rate = float64(n) / s / (1 << 20)
	}
	return fmt.Sprintf("%s [%s%s] %3.0f%%  %d/%d MiB  %.1f MiB/s", label,
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), frac*100, n>>20, total>>20, rate)
}
