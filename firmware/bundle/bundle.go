// Package bundle is the signed firmware update: one file per release and
// board holding a manifest (a firmware.Release, the anti-rollback counter
// and each part's size and SHA-256), an ed25519 signature of the
// manifest, and the parts themselves (kernel, initramfs, board boot
// files), each stored raw or xz-compressed.
//
// Layout (all integers big-endian):
//
//	"MATTHAN-BUNDLE/1\n"          magic, 17 bytes
//	uint32 n, manifest            JSON, n ≤ MaxManifest
//	uint16 k, signature           k = 0 (unsigned) or 64 (ed25519)
//	part 0 .. part N-1            Stored bytes each, in manifest order
//
// The signature covers SignedPrefix + the manifest bytes exactly as
// stored. A reader checks magic, manifest, signature, board and counter
// before giving out a single byte of a part, then hashes every part while
// it streams (Reader.Part), so a box writes nothing from a bundle that is
// not signed by one of its keys, and finds a truncated or corrupted part
// before it arms the slot.
package bundle

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/matthan/matthan/firmware"
	"github.com/ulikunitz/xz"
)

// Magic starts every bundle.
const Magic = "MATTHAN-BUNDLE/1\n"

// SignedPrefix is prepended to the manifest for signing, so that a
// signature made for anything else never verifies as a bundle's.
const SignedPrefix = "matthan bundle manifest v1\n"

// FileName is the bundle's name next to a build's files (OUT/BOARD).
const FileName = "matthan.bundle"

// Limits on what a reader accepts (bounded before it allocates).
const (
	MaxManifest = 64 << 10
	MaxParts    = 64
	MaxPartSize = 512 << 20
)

// Compression of a stored part.
const (
	Raw = ""
	XZ  = "xz"
)

// Manifest describes a bundle. Release is the same firmware.Release the
// build writes into the initramfs (/etc/matthan/release.json) and next to
// the image; its Counter is the anti-rollback counter.
type Manifest struct {
	Format  int              `json:"format"`
	Release firmware.Release `json:"release"`
	Parts   []Part           `json:"parts"`
}

// Part is one file of a boot slot.
type Part struct {
	// Name is the file's path inside the slot ("vmlinuz", "initrd.cpio",
	// "bcm2711-rpi-4-b.dtb"): relative, clean, no "..".
	Name string `json:"name"`
	// Size and SHA256 are those of the installed file.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Compression is how the part is stored: Raw or XZ.
	Compression string `json:"compression,omitempty"`
	// Stored is the number of bytes the part takes in the bundle.
	Stored int64 `json:"stored"`
	// Omitted parts are not in the bundle (Stored 0): the box copies the
	// file from its running slot, where it must have this SHA-256 (a
	// bundle that leaves an unchanged kernel out).
	Omitted bool `json:"omitted,omitempty"`
}

// Keys are the public keys a box trusts: the current release key and the
// next one (rotation: bundles signed by the next key install on boxes
// that carry both, before the current key is retired).
type Keys struct {
	Current ed25519.PublicKey
	Next    ed25519.PublicKey
}

// Policy is what the box checks against the manifest.
type Policy struct {
	Board string
	// Installed is the running release's anti-rollback counter: the
	// bundle's must be greater.
	Installed uint64
}

// Check says whether the manifest is well formed (every field a reader
// relies on).
func (m *Manifest) Check() error {
	if m.Format != 1 {
		return fmt.Errorf("manifest format %d, want 1", m.Format)
	}
	if err := m.Release.Check(); err != nil {
		return err
	}
	if m.Release.Counter == 0 {
		return errors.New("manifest: no anti-rollback counter")
	}
	if len(m.Parts) == 0 || len(m.Parts) > MaxParts {
		return fmt.Errorf("manifest: %d parts, want 1..%d", len(m.Parts), MaxParts)
	}
	seen := map[string]bool{}
	for _, p := range m.Parts {
		if err := CheckName(p.Name); err != nil {
			return err
		}
		if seen[p.Name] {
			return fmt.Errorf("manifest: part %s twice", p.Name)
		}
		seen[p.Name] = true
		if p.Size < 0 || p.Size > MaxPartSize || p.Stored < 0 || p.Stored > MaxPartSize {
			return fmt.Errorf("manifest: part %s: size %d stored %d out of range", p.Name, p.Size, p.Stored)
		}
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("manifest: part %s: bad sha256 %q", p.Name, p.SHA256)
		}
		switch {
		case p.Omitted && (p.Stored != 0 || p.Compression != Raw):
			return fmt.Errorf("manifest: omitted part %s has stored bytes", p.Name)
		case p.Compression == Raw && !p.Omitted && p.Stored != p.Size:
			return fmt.Errorf("manifest: raw part %s: stored %d != size %d", p.Name, p.Stored, p.Size)
		case p.Compression != Raw && p.Compression != XZ:
			return fmt.Errorf("manifest: part %s: unknown compression %q", p.Name, p.Compression)
		}
	}
	return nil
}

// CheckName accepts a part name: a clean relative path of safe characters.
func CheckName(name string) error {
	if name == "" || len(name) > 128 || path.Clean(name) != name || strings.HasPrefix(name, "/") ||
		name == "." || strings.HasPrefix(name, "../") || name == ".." || strings.Contains(name, "/../") {
		return fmt.Errorf("manifest: bad part name %q", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+/", r)) {
			return fmt.Errorf("manifest: bad part name %q", name)
		}
	}
	return nil
}

// Reader reads a bundle whose header was verified.
type Reader struct {
	Manifest Manifest
	// ManifestBytes are the signed bytes.
	ManifestBytes []byte
	r             *bufio.Reader
	next          int
}

// ReadHeader reads magic, manifest and signature from r and checks them
// against keys and policy. Every failure is a *Refusal.
func ReadHeader(r io.Reader, keys Keys, pol Policy) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(br, magic); err != nil {
		return nil, short(err, "magic")
	}
	if string(magic) != Magic {
		return nil, refuse(Malformed, errors.New("not a Mắt Thần bundle (bad magic)"))
	}
	var n uint32
	if err := binary.Read(br, binary.BigEndian, &n); err != nil {
		return nil, short(err, "manifest length")
	}
	if n == 0 || n > MaxManifest {
		return nil, refuse(Malformed, fmt.Errorf("manifest of %d bytes (at most %d)", n, MaxManifest))
	}
	mb := make([]byte, n)
	if _, err := io.ReadFull(br, mb); err != nil {
		return nil, short(err, "manifest")
	}
	var k uint16
	if err := binary.Read(br, binary.BigEndian, &k); err != nil {
		return nil, short(err, "signature length")
	}
	if k == 0 {
		return nil, refuse(Unsigned, nil)
	}
	if k != ed25519.SignatureSize {
		return nil, refuse(BadSignature, fmt.Errorf("signature of %d bytes, want %d", k, ed25519.SignatureSize))
	}
	sig := make([]byte, k)
	if _, err := io.ReadFull(br, sig); err != nil {
		return nil, short(err, "signature")
	}
	if err := Verify(keys, mb, sig); err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(mb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, refuse(Malformed, fmt.Errorf("manifest: %w", err))
	}
	if err := m.Check(); err != nil {
		return nil, refuse(Malformed, err)
	}
	if m.Release.Board != pol.Board {
		return nil, refuse(WrongBoard, fmt.Errorf("bundle for %q, this box is %q", m.Release.Board, pol.Board))
	}
	if m.Release.Counter <= pol.Installed {
		return nil, refuse(OldCounter, fmt.Errorf("bundle counter %d, installed %d", m.Release.Counter, pol.Installed))
	}
	return &Reader{Manifest: m, ManifestBytes: mb, r: br}, nil
}

// Verify checks sig over the manifest bytes with either key.
func Verify(keys Keys, manifest, sig []byte) error {
	msg := append([]byte(SignedPrefix), manifest...)
	tried := 0
	for _, k := range []ed25519.PublicKey{keys.Current, keys.Next} {
		if len(k) != ed25519.PublicKeySize {
			continue
		}
		tried++
		if ed25519.Verify(k, msg, sig) {
			return nil
		}
	}
	if tried == 0 {
		return refuse(NoKeys, nil)
	}
	return refuse(BadSignature, nil)
}

// Part returns the next part stored in the bundle (omitted parts are
// skipped: the caller copies them from the running slot) and a reader of
// its installed bytes. The reader returns a *Refusal (Truncated or
// Corrupted) instead of io.EOF when the bytes are not exactly what the
// manifest says; it returns io.EOF only after checking size and SHA-256.
// Part returns io.EOF after the last part, or a Refusal if bytes follow it.
func (b *Reader) Part() (Part, io.Reader, error) {
	for b.next < len(b.Manifest.Parts) && b.Manifest.Parts[b.next].Omitted {
		b.next++
	}
	if b.next >= len(b.Manifest.Parts) {
		if _, err := b.r.ReadByte(); err == nil {
			return Part{}, nil, refuse(Corrupted, errors.New("bytes after the last part"))
		}
		return Part{}, nil, io.EOF
	}
	p := b.Manifest.Parts[b.next]
	b.next++
	stored := &exact{r: io.LimitReader(b.r, p.Stored), left: p.Stored, name: p.Name}
	var src io.Reader = stored
	if p.Compression == XZ {
		src = &lazyXZ{in: stored, name: p.Name}
	}
	return p, &verify{src: src, p: p, h: sha256.New(), stored: stored}, nil
}

// exact reads exactly left bytes; fewer is a Truncated refusal.
type exact struct {
	r    io.Reader
	left int64
	name string
}

func (e *exact) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, refuse(Truncated, fmt.Errorf("part %s: %d bytes missing", e.name, e.left))
	}
	if err != nil && err != io.EOF {
		return n, err
	}
	return n, nil
}

// lazyXZ opens the xz stream on first read.
type lazyXZ struct {
	in   io.Reader
	name string
	r    io.Reader
}

func (l *lazyXZ) Read(p []byte) (int, error) {
	if l.r == nil {
		r, err := xz.NewReader(l.in)
		if err != nil {
			return 0, corruptOrShort(err, l.name)
		}
		l.r = r
	}
	n, err := l.r.Read(p)
	if err != nil && err != io.EOF {
		return n, corruptOrShort(err, l.name)
	}
	return n, err
}

func corruptOrShort(err error, name string) error {
	var rf *Refusal
	if errors.As(err, &rf) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return refuse(Truncated, fmt.Errorf("part %s: %w", name, err))
	}
	return refuse(Corrupted, fmt.Errorf("part %s: xz: %w", name, err))
}

// verify hashes and counts what it passes on and checks both at the end.
type verify struct {
	src io.Reader
	p   Part
	h   interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	n      int64
	stored *exact
	done   bool
}

func (v *verify) Read(b []byte) (int, error) {
	if v.done {
		return 0, io.EOF
	}
	if room := v.p.Size + 1 - v.n; int64(len(b)) > room {
		b = b[:room] // read at most one byte past the size: bounds an xz bomb
	}
	n, err := v.src.Read(b)
	v.h.Write(b[:n])
	v.n += int64(n)
	if v.n > v.p.Size {
		return 0, refuse(Corrupted, fmt.Errorf("part %s: longer than its %d bytes", v.p.Name, v.p.Size))
	}
	if err == io.EOF {
		if v.n != v.p.Size {
			return n, refuse(Corrupted, fmt.Errorf("part %s: %d bytes, manifest says %d", v.p.Name, v.n, v.p.Size))
		}
		if v.stored.left != 0 {
			return n, refuse(Corrupted, fmt.Errorf("part %s: %d stored bytes unread", v.p.Name, v.stored.left))
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.p.SHA256 {
			return n, refuse(Corrupted, fmt.Errorf("part %s: sha256 %s, manifest says %s", v.p.Name, got, v.p.SHA256))
		}
		v.done = true
	}
	return n, err
}

// Drain reads every remaining part to its end, checking each, and the end
// of the bundle: what Verify-only callers (and tests) use.
func (b *Reader) Drain() error {
	for {
		_, r, err := b.Part()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
}

func short(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return refuse(Truncated, fmt.Errorf("%s cut short", what))
	}
	return fmt.Errorf("bundle: read %s: %w", what, err)
}
