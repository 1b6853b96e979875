package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/matthan/matthan/firmware/gpt"
	"github.com/matthan/matthan/image/disk"
)

// prepareDisk makes disk the box's disk for this run: a sparse copy of
// image grown to size when it does not exist (or fresh), else the kept disk
// with image's firmware (everything before the data partition) written
// over its own. It reports whether the disk was kept.
func prepareDisk(image, disk string, size int64, fresh bool) (kept bool, err error) {
	if fresh {
		if err := os.Remove(disk); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("start over: %w", err)
		}
	}
	if _, err := os.Stat(disk); err == nil {
		return true, updateFirmware(image, disk)
	}
	if err := os.MkdirAll(filepath.Dir(disk), 0o755); err != nil {
		return false, err
	}
	tmp := disk + ".new"
	if err := sparseCopy(image, tmp, size); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return false, os.Rename(tmp, disk)
}

// sparseCopy copies src to dst leaving its zero blocks as holes, and
// makes dst size bytes long (at least src's size).
func sparseCopy(src, dst string, size int64) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, nil, 0o666); err != nil {
		return err
	}
	if err := os.Truncate(dst, max(st.Size(), size)); err != nil {
		return err
	}
	return disk.CopySparse(dst, src, 0)
}

// part is a GPT partition's first and last sector (512-byte sectors).
type part struct{ first, last uint64 }

// partitions reads the primary GPT of a disk file.
func partitions(path string) ([]part, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, ents, err := gpt.Read(f, 1, 512)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var ps []part
	for _, e := range gpt.Entries(h, ents) {
		ps = append(ps, part{e.First, e.Last})
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: no partitions", path)
	}
	return ps, nil
}

// updateFirmware writes image's partitions before its data partition (the
// last one: boot, firmware slots) over disk's, keeping disk's data
// partition and partition table. The layouts must agree.
func updateFirmware(image, disk string) error {
	ip, err := partitions(image)
	if err != nil {
		return err
	}
	dp, err := partitions(disk)
	if err != nil {
		return fmt.Errorf("kept disk: %w; make run FRESH=1 starts over", err)
	}
	same := len(ip) == len(dp)
	for i := 0; same && i < len(ip); i++ {
		same = ip[i].first == dp[i].first && (i == len(ip)-1 || ip[i].last == dp[i].last)
	}
	if !same {
		return fmt.Errorf("the firmware's partition layout changed since %s was made: make run FRESH=1 starts over (its setup, accounts and recordings are lost)", disk)
	}
	from, to := int64(ip[0].first)*512, int64(ip[len(ip)-1].first)*512
	in, err := os.Open(image)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(io.NewOffsetWriter(out, from), io.NewSectionReader(in, from, to-from)); err != nil {
		return fmt.Errorf("write the firmware onto %s: %w", disk, err)
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}
