package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/image/debs"
	"github.com/matthan/matthan/image/disk"
)

// writeBundle writes OUT/matthan.bundle: one slot's files (kernel,
// initramfs, the board's boot files), the kernel and initramfs
// compressed with xz -9e, signed with o.BundleKey. A part whose SHA-256 equals the
// one in o.BundleSince is left out (the box keeps its own copy).
func writeBundle(ctx context.Context, b *board.Board, f *debs.Fetcher, o Options, res *Result, kernelTree string, rel firmware.Release) error {
	payload, err := payloadFiles(ctx, b, f, o, res, kernelTree)
	if err != nil {
		return err
	}
	parts := SlotParts(b, payload)
	names := make([]string, 0, len(parts))
	for n := range parts {
		names = append(names, n)
	}
	sort.Strings(names)
	kernelHash, _, err := disk.SHA256(res.Kernel)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	rel.Hashes = &firmware.Hashes{Kernel: kernelHash, Initramfs: res.InitramfsSHA256}
	var srcs []bundle.Source
	for _, n := range names {
		s := bundle.Source{Name: n, Path: parts[n], Compress: !o.BundleRaw && (n == "vmlinuz" || n == "initrd.cpio")}
		if since := o.BundleSince; since != nil && since.Hashes != nil && n == "vmlinuz" && since.Hashes.Kernel == kernelHash {
			s.Omit, s.Compress = true, false
		}
		srcs = append(srcs, s)
	}
	res.Bundle = filepath.Join(o.Out, bundle.FileName)
	tmp := res.Bundle + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	m, err := bundle.WriteWith(out, rel, srcs, o.BundleKey, bundle.XZCommand)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, res.Bundle); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	st, err := os.Stat(res.Bundle)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	res.BundleBytes, res.BundleManifest = st.Size(), m
	o.logf("build: bundle %s: %d bytes, counter %d, %d parts", res.Bundle, res.BundleBytes, rel.Counter, len(m.Parts))
	return nil
}
