// Package debs fetches pinned Debian packages by name with apt, into a
// cache, without touching the build machine's own apt configuration: it
// keeps its own source list, package lists and download cache below the
// cache folder, for arm64 (and "all").
//
// A pin is name + exact version + SHA-256. The Debian archive keeps only
// the newest kernel ABIs, so a pin goes stale some day: Fetch then fails
// with a message naming the newest package of the series and the one
// command that moves the pin (Repin).
package debs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/matthan/matthan/board"
)

// Sources is the apt source list the build uses: Debian 12 main plus
// non-free-firmware (Raspberry Pi boot firmware), with security updates
// (where the newest kernels are).
const Sources = `deb http://deb.debian.org/debian bookworm main non-free-firmware
deb http://deb.debian.org/debian bookworm-updates main non-free-firmware
deb http://deb.debian.org/debian-security bookworm-security main non-free-firmware
`

// RepinCommand is the command that moves stale pins to the newest packages.
const RepinCommand = "make repin"

// Fetcher downloads pinned packages into Dir.
type Fetcher struct {
	// Dir holds the verified .deb files and apt's state (Dir/apt).
	Dir string
	// MaxIndexAge is how old apt's package lists may be before a fetch of
	// an uncached package refreshes them (default 24 h).
	MaxIndexAge time.Duration
	// Log receives progress lines (may be nil).
	Log io.Writer

	updated bool
}

// StaleError says a pinned package is no longer in the archive.
type StaleError struct {
	Pin    board.DebPin
	Newest string // "package version" of the newest candidate, if known
}

func (e *StaleError) Error() string {
	msg := fmt.Sprintf("pinned package %s %s is no longer in the Debian archive", e.Pin.Package, e.Pin.Version)
	if e.Newest != "" {
		msg += fmt.Sprintf("; the newest is %s", e.Newest)
	}
	return msg + fmt.Sprintf("; move the pin with: %s", RepinCommand)
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		fmt.Fprintf(f.Log, format+"\n", args...)
	}
}

// CachedPath is where a pin's .deb lives once fetched.
func (f *Fetcher) CachedPath(p board.DebPin) string {
	v := strings.ReplaceAll(p.Version, ":", "%3a")
	return filepath.Join(f.Dir, p.Package+"_"+v+".deb")
}

// Fetch returns the path of the pinned package, downloading it if needed.
// A cached file is used only when its SHA-256 matches the pin.
func (f *Fetcher) Fetch(ctx context.Context, p board.DebPin) (string, error) {
	dst := f.CachedPath(p)
	if sum, err := fileSHA256(dst); err == nil {
		if sum == p.SHA256 {
			return dst, nil
		}
		f.logf("debs: %s: cached file has sha256 %s, pin says %s: fetching again", filepath.Base(dst), sum, p.SHA256)
	}
	if err := f.ensureIndex(ctx, false); err != nil {
		return "", err
	}
	found, err := f.hasVersion(ctx, p)
	if err != nil {
		return "", err
	}
	if !found && !f.updated {
		if err := f.ensureIndex(ctx, true); err != nil {
			return "", err
		}
		if found, err = f.hasVersion(ctx, p); err != nil {
			return "", err
		}
	}
	if !found {
		return "", &StaleError{Pin: p, Newest: f.newestHint(ctx, p)}
	}
	tmp, err := os.MkdirTemp(f.Dir, "download-")
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", p.Package, err)
	}
	defer os.RemoveAll(tmp)
	f.logf("debs: downloading %s %s", p.Package, p.Version)
	cmd := f.apt(ctx, "apt-get", "download", p.Package+"="+p.Version)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s=%s: %w\n%s", p.Package, p.Version, err, out)
	}
	got, err := filepath.Glob(filepath.Join(tmp, p.Package+"_*.deb"))
	if err != nil || len(got) != 1 {
		return "", fmt.Errorf("apt-get download %s: expected one .deb, found %v", p.Package, got)
	}
	sum, err := fileSHA256(got[0])
	if err != nil {
		return "", err
	}
	if sum != p.SHA256 {
		return "", fmt.Errorf("%s %s: downloaded file has sha256 %s, the pin says %s: refusing it", p.Package, p.Version, sum, p.SHA256)
	}
	if err := os.Rename(got[0], dst); err != nil {
		return "", fmt.Errorf("fetch %s: %w", p.Package, err)
	}
	return dst, nil
}

// aptDir is apt's state folder; apt needs absolute paths (it reads
// relative ones against its root, "/").
func (f *Fetcher) aptDir() string {
	d, err := filepath.Abs(filepath.Join(f.Dir, "apt"))
	if err != nil {
		return filepath.Join(f.Dir, "apt")
	}
	return d
}

// apt builds an apt-get/apt-cache command using only this fetcher's state.
func (f *Fetcher) apt(ctx context.Context, tool string, args ...string) *exec.Cmd {
	d := f.aptDir()
	opts := []string{
		"-o", "APT::Architecture=arm64",
		"-o", "APT::Architectures=arm64",
		"-o", "Dir::State::Lists=" + filepath.Join(d, "lists"),
		"-o", "Dir::State::status=" + filepath.Join(d, "status"),
		"-o", "Dir::Cache=" + filepath.Join(d, "cache"),
		"-o", "Dir::Etc::SourceList=" + filepath.Join(d, "sources.list"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(d, "sources.list.d"),
		"-o", "Debug::NoLocking=1",
		"-o", "APT::Sandbox::User=root",
		"-q",
	}
	cmd := exec.CommandContext(ctx, tool, append(opts, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// ensureIndex runs apt-get update when the lists are missing, older than
// MaxIndexAge, or force is set.
func (f *Fetcher) ensureIndex(ctx context.Context, force bool) error {
	d := f.aptDir()
	for _, sub := range []string{"lists/partial", "cache/archives/partial", "sources.list.d"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			return fmt.Errorf("apt state: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(d, "sources.list"), []byte(Sources), 0o644); err != nil {
		return fmt.Errorf("apt sources: %w", err)
	}
	if _, err := os.Stat(filepath.Join(d, "status")); err != nil {
		if err := os.WriteFile(filepath.Join(d, "status"), nil, 0o644); err != nil {
			return fmt.Errorf("apt status: %w", err)
		}
	}
	maxAge := f.MaxIndexAge
	if maxAge == 0 {
		maxAge = 24 * time.Hour
	}
	stamp := filepath.Join(d, "updated")
	if st, err := os.Stat(stamp); err == nil && !force && time.Since(st.ModTime()) < maxAge {
		return nil
	}
	if f.updated && !force {
		return nil
	}
	f.logf("debs: apt-get update (arm64, own lists in %s)", d)
	if out, err := f.apt(ctx, "apt-get", "update").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w\n%s", err, out)
	}
	f.updated = true
	return os.WriteFile(stamp, nil, 0o644)
}

// Candidate is one version of a package in the archive.
type Candidate struct {
	Package, Version, SHA256 string
}

// show lists every version of a package the index knows.
func (f *Fetcher) show(ctx context.Context, pkg string) ([]Candidate, error) {
	out, err := f.apt(ctx, "apt-cache", "show", pkg).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, nil // unknown package
		}
		return nil, fmt.Errorf("apt-cache show %s: %w", pkg, err)
	}
	return ParseShow(out), nil
}

// ParseShow reads apt-cache show output (RFC 822 stanzas).
func ParseShow(out []byte) []Candidate {
	var cs []Candidate
	var c Candidate
	flush := func() {
		if c.Package != "" && c.Version != "" {
			cs = append(cs, c)
		}
		c = Candidate{}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			c.Package = v
		case "Version":
			c.Version = v
		case "SHA256":
			c.SHA256 = v
		}
	}
	flush()
	return cs
}

func (f *Fetcher) hasVersion(ctx context.Context, p board.DebPin) (bool, error) {
	cs, err := f.show(ctx, p.Package)
	if err != nil {
		return false, err
	}
	for _, c := range cs {
		if c.Version == p.Version {
			return true, nil
		}
	}
	return false, nil
}

// Newest returns the newest version of pkg in the index.
func (f *Fetcher) Newest(ctx context.Context, pkg string) (Candidate, error) {
	if err := f.ensureIndex(ctx, false); err != nil {
		return Candidate{}, err
	}
	cs, err := f.show(ctx, pkg)
	if err != nil {
		return Candidate{}, err
	}
	if len(cs) == 0 {
		return Candidate{}, fmt.Errorf("package %s is not in the archive", pkg)
	}
	best := cs[0]
	for _, c := range cs[1:] {
		if newer, err := f.versionGreater(ctx, c.Version, best.Version); err == nil && newer {
			best = c
		}
	}
	return best, nil
}

// NewestKernel returns the newest package of a kernel series.
func (f *Fetcher) NewestKernel(ctx context.Context, k board.KernelPin) (Candidate, error) {
	if err := f.ensureIndex(ctx, false); err != nil {
		return Candidate{}, err
	}
	out, err := f.apt(ctx, "apt-cache", "pkgnames", "linux-image-").Output()
	if err != nil {
		return Candidate{}, fmt.Errorf("apt-cache pkgnames: %w", err)
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if k.InSeries(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return Candidate{}, fmt.Errorf("no package of series %s in the archive", k.Series)
	}
	sort.Slice(names, func(i, j int) bool { return abiOf(names[i]) < abiOf(names[j]) })
	return f.Newest(ctx, names[len(names)-1])
}

// abiOf extracts the ABI number N from linux-image-6.1.0-N-...
func abiOf(name string) int {
	n := 0
	parts := strings.Split(name, "-")
	for i, p := range parts {
		if i >= 3 && p != "" && strings.Trim(p, "0123456789") == "" {
			fmt.Sscan(p, &n)
			return n
		}
	}
	return n
}

func (f *Fetcher) versionGreater(ctx context.Context, a, b string) (bool, error) {
	err := exec.CommandContext(ctx, "dpkg", "--compare-versions", a, "gt", b).Run()
	if err == nil {
		return true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return false, nil
	}
	return false, err
}

func (f *Fetcher) newestHint(ctx context.Context, p board.DebPin) string {
	var c Candidate
	var err error
	if strings.HasPrefix(p.Package, "linux-image-") {
		series := board.KernelPin{DebPin: p, Series: kernelSeries(p.Package)}
		c, err = f.NewestKernel(ctx, series)
	} else {
		c, err = f.Newest(ctx, p.Package)
	}
	if err != nil {
		return ""
	}
	return c.Package + " " + c.Version
}

// kernelSeries turns linux-image-6.1.0-56-arm64-unsigned into
// linux-image-6.1.0-*-arm64-unsigned.
func kernelSeries(pkg string) string {
	parts := strings.Split(pkg, "-")
	if len(parts) > 3 {
		parts[3] = "*"
	}
	return strings.Join(parts, "-")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Extract unpacks a .deb's files into dir (dpkg-deb -x).
func Extract(ctx context.Context, deb, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %w\n%s", filepath.Base(deb), err, out)
	}
	return nil
}
