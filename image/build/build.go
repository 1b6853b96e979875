// Package build makes a board's firmware: it fetches the pinned Debian
// packages (kernel, boot loader or Pi firmware, e2fsprogs), cross-builds
// init, the daemon and the tools for arm64, writes the initramfs and the
// flashable disk image, and reports their SHA-256 and size.
package build

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/firmware/modorder"
	"github.com/matthan/matthan/image/debs"
	"github.com/matthan/matthan/image/disk"
	"github.com/matthan/matthan/image/initramfs"
	"github.com/matthan/matthan/image/kmods"
)

// Options say what to build.
type Options struct {
	Board string
	// Repo is the repository root (for go build and the pin files).
	Repo string
	// Out is the board's output folder (out/BOARD).
	Out string
	// Cache holds the fetched .deb files and their unpacked trees.
	Cache string
	// Debug adds a shell and u-root's core commands.
	Debug bool
	// NoDisk skips the disk image (initramfs and kernel only).
	NoDisk bool
	// Cmdline is appended to the board's kernel command line in the boot
	// loader entry.
	Cmdline string
	// SourceDate is the image's date (default: the last commit's time).
	SourceDate time.Time
	// Counter is the release's anti-rollback counter (default: the
	// source date in Unix seconds, which grows with every commit).
	Counter uint64
	// UpdateKeys is the public keys file (firmware/bundle format) the box
	// trusts for updates; the initramfs carries it at
	// bundle.KeysPathOnBox. Empty: the box refuses every bundle.
	UpdateKeys string
	// BundleKey, when set, signs OUT/matthan.bundle with the kernel,
	// the initramfs and the board's boot files of one slot.
	BundleKey ed25519.PrivateKey
	// BundleSince is the release a bundle updates from: parts it already
	// has (same SHA-256: today the kernel) are left out. Nil: a full bundle.
	BundleSince *firmware.Release
	// BundleRaw stores the parts uncompressed (tests: xz -9e of the
	// initramfs takes a minute).
	BundleRaw bool
	Log       io.Writer
}

// Result names what was built.
type Result struct {
	Kernel, Initramfs, Image string
	InitramfsBytes           int64
	ImageBytes               int64
	ImageSHA256              string
	InitramfsSHA256          string
	Release                  string // kernel release (uname -r)
	// Firmware is the release, with the hashes of the files above; it is
	// written to ReleaseFile (OUT/release.json). The initramfs carries the
	// same release without hashes at firmware.PathOnBox.
	Firmware    firmware.Release
	ReleaseFile string
	// Bundle is OUT/matthan.bundle when a BundleKey was given.
	Bundle         string
	BundleBytes    int64
	BundleManifest *bundle.Manifest
}

// Programs cross-built into the initramfs: path in the initramfs -> package.
var Programs = map[string]string{
	"init":         "./init/cmd/matthaninit",
	"bin/matthand": "./daemon/cmd/matthand",
	// The technician's self-test: its own program, so init imports
	// nothing from hwtest/ (init runs it on matthan.selftest=1).
	"bin/matthan-selftest": "./hwtest/cmd/matthan-selftest",
}

// Links are the other names of /init (one multi-call binary).
var Links = []string{"bin/matthanctl"}

// Userland is image/userland.json.
type Userland struct {
	Comment  string         `json:"comment"`
	Packages []board.DebPin `json:"packages"`
	Programs []string       `json:"programs"`
	// DebugPackages give the debug image its shell (busybox-static).
	DebugPackages []board.DebPin `json:"debug_packages"`
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Build makes the firmware for one board.
func Build(ctx context.Context, o Options) (*Result, error) {
	b, err := board.Load(o.Board)
	if err != nil {
		return nil, err
	}
	raw, _ := board.Raw(o.Board)
	if o.SourceDate.IsZero() {
		o.SourceDate = sourceDate(ctx, o.Repo)
	}
	if o.Counter == 0 {
		o.Counter = uint64(o.SourceDate.Unix())
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	f := &debs.Fetcher{Dir: filepath.Join(o.Cache, "debs"), Log: o.Log}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	kernelTree, err := unpack(ctx, f, b.Kernel.DebPin, o.Cache)
	if err != nil {
		return nil, err
	}
	rel := b.Kernel.Release()
	modDir := filepath.Join(kernelTree, "lib/modules", rel)
	if _, err := os.Stat(filepath.Join(modDir, "modules.dep")); err != nil {
		o.logf("build: depmod -b %s %s", kernelTree, rel)
		if out, err := exec.CommandContext(ctx, "depmod", "-b", kernelTree, rel).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("depmod: %w\n%s (install the Debian package kmod)", err, out)
		}
	}

	tree := initramfs.New()
	if err := addModules(tree, modDir, rel, b.Modules, b.LoadAfter); err != nil {
		return nil, err
	}
	if err := addUserland(ctx, tree, f, o); err != nil {
		return nil, err
	}
	bins := filepath.Join(o.Out, "bin")
	for _, dst := range sortedKeys(Programs) {
		pkg := Programs[dst]
		if !hasGoFiles(filepath.Join(o.Repo, pkg)) {
			o.logf("build: %s not written yet: the image has no %s", pkg, dst)
			continue
		}
		out := filepath.Join(bins, filepath.Base(dst))
		if err := crossBuild(ctx, o.Repo, pkg, out); err != nil {
			return nil, err
		}
		tree.File(dst, 0o755, out)
	}
	for _, l := range Links {
		tree.Symlink(l, "/init")
	}
	if o.Debug {
		if err := addDebugTools(ctx, tree, o, bins); err != nil {
			return nil, err
		}
	}
	tree.Bytes(board.PathOnBox, 0o644, raw)
	if o.UpdateKeys != "" {
		keys, err := bundle.LoadKeys(o.UpdateKeys)
		if err != nil {
			return nil, fmt.Errorf("build: update keys: %w", err)
		}
		tree.Bytes(strings.TrimPrefix(bundle.KeysPathOnBox, "/"), 0o644, bundle.FormatKeys(keys))
	}
	release := firmware.Release{Board: b.Name, Version: version(ctx, o.Repo, o.SourceDate), Built: o.SourceDate.UTC(),
		Debug: o.Debug, Kernel: b.Kernel.Package + " " + b.Kernel.Version, Counter: o.Counter}
	relJSON, err := release.Marshal()
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	tree.Bytes(strings.TrimPrefix(firmware.PathOnBox, "/"), 0o644, relJSON)

	res := &Result{Release: rel}
	res.Initramfs = filepath.Join(o.Out, "initrd.cpio")
	if err := writeTree(tree, res.Initramfs); err != nil {
		return nil, err
	}
	res.InitramfsSHA256, res.InitramfsBytes, _ = disk.SHA256(res.Initramfs)
	res.Kernel = filepath.Join(o.Out, "vmlinuz")
	if err := disk.CopyFile(filepath.Join(kernelTree, "boot", "vmlinuz-"+rel), res.Kernel); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	o.logf("build: initramfs %s: %d bytes, sha256 %s", res.Initramfs, res.InitramfsBytes, res.InitramfsSHA256)
	if o.BundleKey != nil {
		if err := writeBundle(ctx, b, f, o, res, kernelTree, release); err != nil {
			return nil, err
		}
	}
	if o.NoDisk {
		return res, writeRelease(res, release, o.Out)
	}

	bootFiles, slotA, err := bootFiles(ctx, b, f, o, res, kernelTree)
	if err != nil {
		return nil, err
	}
	res.Image = filepath.Join(o.Out, "matthan.img")
	if _, err := disk.Write(ctx, disk.Spec{Path: res.Image, BootMiB: b.Disk.BootMiB, SlotMiB: b.Disk.SlotMiB, DataMiB: b.Disk.DataMiB,
		Boot: bootFiles, SlotA: slotA, Scratch: o.Out}); err != nil {
		return nil, err
	}
	res.ImageSHA256, res.ImageBytes, err = disk.SHA256(res.Image)
	if err != nil {
		return nil, err
	}
	return res, writeRelease(res, release, o.Out)
}

// writeRelease fills in the hashes of the built files and writes the
// release next to them.
func writeRelease(res *Result, r firmware.Release, out string) error {
	kernel, _, err := disk.SHA256(res.Kernel)
	if err != nil {
		return fmt.Errorf("build: kernel hash: %w", err)
	}
	r.Hashes = &firmware.Hashes{Kernel: kernel, Initramfs: res.InitramfsSHA256, Image: res.ImageSHA256}
	res.Firmware = r
	res.ReleaseFile = filepath.Join(out, firmware.FileName)
	if err := r.WriteFile(res.ReleaseFile); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

// unpack fetches a pinned package and unpacks it once into the cache.
func unpack(ctx context.Context, f *debs.Fetcher, p board.DebPin, cache string) (string, error) {
	deb, err := f.Fetch(ctx, p)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "unpacked", p.Package+"_"+p.SHA256[:16])
	return dir, fillOnce(dir, func(tmp string) error { return debs.Extract(ctx, deb, tmp) })
}

// fillOnce makes the cache folder dir with fill, once, safely when several
// builds run at once (go test runs the image and the boot tests in
// parallel): fill works in a private temporary folder, which is renamed into
// place; a build that loses the race uses the winner's folder.
func fillOnce(dir string, fill func(tmp string) error) error {
	done := filepath.Join(dir, ".done")
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone after a successful rename; else the leftovers
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".done"), nil, 0o644); err != nil {
		return err
	}
	var err2 error
	for try := 0; try < 5; try++ {
		if err2 = os.Rename(tmp, dir); err2 == nil {
			return nil
		}
		if _, err := os.Stat(done); err == nil {
			return nil // another build finished first
		}
		// A half-made folder from a build that crashed before .done: move
		// it aside atomically (another build may be doing the same), then
		// try again.
		stale := fmt.Sprintf("%s.stale-%d-%d", dir, os.Getpid(), time.Now().UnixNano())
		if os.Rename(dir, stale) == nil {
			os.RemoveAll(stale)
		}
	}
	return fmt.Errorf("cache %s: %w", dir, err2)
}

func addModules(tree *initramfs.Tree, modDir, rel string, names []string, after map[string][]string) error {
	deps, err := kmods.Load(modDir)
	if err != nil {
		return err
	}
	if err := deps.LoadAfter(after); err != nil {
		return err
	}
	order, _, err := deps.Resolve(names)
	if err != nil {
		return err
	}
	base := "lib/modules/" + rel + "/"
	entries := make([]modorder.Entry, 0, len(order))
	for _, m := range order {
		tree.File(base+m, 0o644, filepath.Join(modDir, m))
		entries = append(entries, modorder.Entry{Path: m, Deps: deps.Of(m)})
	}
	tree.Bytes(base+modorder.File, 0o644, modorder.Format("load order, dependencies first (made by image/build from depmod's modules.dep)", entries))
	return nil
}

func addUserland(ctx context.Context, tree *initramfs.Tree, f *debs.Fetcher, o Options) error {
	raw, err := os.ReadFile(filepath.Join(o.Repo, "image", "userland.json"))
	if err != nil {
		return fmt.Errorf("userland list: %w", err)
	}
	var u Userland
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("image/userland.json: %w", err)
	}
	root := filepath.Join(o.Cache, "userland-"+shortHash(raw))
	if err := fillOnce(root, func(tmp string) error {
		for _, p := range u.Packages {
			deb, err := f.Fetch(ctx, p)
			if err != nil {
				return err
			}
			if err := debs.Extract(ctx, deb, tmp); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	files, err := ELFClosure(root, u.Programs)
	if err != nil {
		return err
	}
	for _, rel := range files {
		tree.File(rel, 0o755, filepath.Join(root, rel))
	}
	// The dynamic loader's usual path.
	tree.Symlink("lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu/ld-linux-aarch64.so.1")
	return nil
}

func crossBuild(ctx context.Context, repo, pkg, out string) error {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out}
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for arm64: %w\n%s", pkg, err, b)
	}
	return nil
}

func writeTree(tree *initramfs.Tree, path string) error {
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return os.Rename(path+".tmp", path)
}

func sourceDate(ctx context.Context, repo string) time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err == nil {
			return time.Unix(sec, 0).UTC()
		}
	}
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "log", "-1", "--format=%ct").Output()
	if err == nil {
		var sec int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &sec); err == nil {
			return time.Unix(sec, 0).UTC()
		}
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
}

// version is the commit the source date comes from (or "unknown").
func version(ctx context.Context, repo string, date time.Time) string {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "log", "-1", "--format=%h %ct").Output()
	if err != nil {
		return "unknown"
	}
	var hash string
	var sec int64
	if _, err := fmt.Sscan(string(out), &hash, &sec); err != nil || sec != date.Unix() {
		return "unknown"
	}
	return hash
}

func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// LoadUserland reads image/userland.json.
func LoadUserland(repo string) (*Userland, error) {
	raw, err := os.ReadFile(filepath.Join(repo, "image", "userland.json"))
	if err != nil {
		return nil, fmt.Errorf("userland list: %w", err)
	}
	var u Userland
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("image/userland.json: %w", err)
	}
	return &u, nil
}
