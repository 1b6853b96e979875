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
}

// Result is what was written.
type Result struct {
	Bytes    int64
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

func blockSize(dev string) (int64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// Write copies image to dst (after Check), syncs, and reads it back.
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
	flags := os.O_WRONLY | os.O_CREATE
	if isBlock(dst) {
		flags |= unix.O_EXCL // the kernel refuses if anything holds the device
	} else {
		flags |= os.O_TRUNC
	}
	out, err := os.OpenFile(dst, flags, 0o644)
	if err != nil {
		return res, fmt.Errorf("open %s: %w", dst, err)
	}
	h := sha256.New()
	bar := &progress{w: o.Progress, total: size, label: "ghi / write ", start: time.Now()}
	buf := make([]byte, 4<<20)
	for {
		if err := ctx.Err(); err != nil {
			out.Close()
			return res, err
		}
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			h.Write(buf[:n])
			if _, err := out.Write(buf[:n]); err != nil {
				out.Close()
				return res, fmt.Errorf("write %s at %d: %w", dst, res.Bytes, err)
			}
			res.Bytes += int64(n)
			bar.update(res.Bytes)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			out.Close()
			return res, fmt.Errorf("read image: %w", rerr)
		}
	}
	bar.done()
	if err := out.Sync(); err != nil {
		out.Close()
		return res, fmt.Errorf("sync %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return res, fmt.Errorf("close %s: %w", dst, err)
	}
	res.SHA256 = fmt.Sprintf("%x", h.Sum(nil))
	if !o.NoVerify {
		if err := verify(ctx, dst, size, res.SHA256, o.Progress); err != nil {
			return res, err
		}
		res.Verified = true
	}
	res.Took = time.Since(start)
	return res, nil
}

func verify(ctx context.Context, dst string, size int64, want string, w io.Writer) error {
	f, err := os.Open(dst)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	// Drop cached pages so the read comes from the device.
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	h := sha256.New()
	bar := &progress{w: w, total: size, label: "kiểm / verify", start: time.Now()}
	buf := make([]byte, 4<<20)
	var done int64
	for done < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.Read(buf[:min(int64(len(buf)), size-done)])
		h.Write(buf[:n])
		done += int64(n)
		bar.update(done)
		if err != nil {
			if err == io.EOF && done < size {
				return fmt.Errorf("verify: %s ends at %d bytes, image has %d", dst, done, size)
			}
			if err != io.EOF {
				return fmt.Errorf("verify: read %s: %w", dst, err)
			}
		}
	}
	bar.done()
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want {
		return fmt.Errorf("verify: %s reads back with sha256 %s, image has %s: the card may be failing", dst, got, want)
	}
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
