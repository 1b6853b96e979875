package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/firmware"
)

type fixture struct {
	key    ed25519.PrivateKey
	keys   Keys
	rel    firmware.Release
	srcs   []Source
	files  map[string][]byte
	bundle []byte
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newFixture writes three parts (one compressed, one raw, and optionally
// one omitted) and a signed bundle of them.
func newFixture(t testing.TB) *fixture {
	dir := t.TempDir()
	f := &fixture{key: newKey(t), files: map[string][]byte{}}
	f.keys = Keys{Current: PublicKey(f.key)}
	f.rel = firmware.Release{Board: "qemu-virt", Version: "abc1234", Built: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Counter: 200}
	contents := map[string][]byte{
		"vmlinuz":     bytes.Repeat([]byte("kernel "), 5000),
		"initrd.cpio": bytes.Repeat([]byte("0123456789abcdef"), 20000),
		"cmdline.txt": []byte("console=ttyAMA0 quiet\n"),
	}
	for name, c := range contents {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, c, 0o644); err != nil {
			t.Fatal(err)
		}
		f.files[name] = c
		f.srcs = append(f.srcs, Source{Name: name, Path: p, Compress: name != "cmdline.txt"})
	}
	f.bundle = f.write(t, f.key)
	return f
}

func (f *fixture) write(t testing.TB, key ed25519.PrivateKey) []byte {
	var buf bytes.Buffer
	if _, err := Write(&buf, f.rel, f.srcs, key); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll verifies the whole bundle and returns the installed parts.
func readAll(b []byte, keys Keys, pol Policy) (map[string][]byte, error) {
	r, err := ReadHeader(bytes.NewReader(b), keys, pol)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for {
		p, pr, err := r.Part()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(pr)
		if err != nil {
			return nil, err
		}
		out[p.Name] = data
	}
}

// headerLen is where the parts start.
func headerLen(b []byte) int {
	n := int(binary.BigEndian.Uint32(b[len(Magic):]))
	off := len(Magic) + 4 + n
	k := int(binary.BigEndian.Uint16(b[off:]))
	return off + 2 + k
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	got, err := readAll(f.bundle, f.keys, Policy{Board: "qemu-virt", Installed: 100})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range f.files {
		if !bytes.Equal(got[name], want) {
			t.Errorf("part %s: got %d bytes, want %d", name, len(got[name]), len(want))
		}
	}
	// The next key verifies too (rotation).
	other := newKey(t)
	if _, err := readAll(f.bundle, Keys{Current: PublicKey(other), Next: PublicKey(f.key)}, Policy{Board: "qemu-virt"}); err != nil {
		t.Fatalf("signed by the next key: %v", err)
	}
}

func TestReproducible(t *testing.T) {
	f := newFixture(t)
	if again := f.write(t, f.key); !bytes.Equal(again, f.bundle) {
		t.Fatal("same sources and key gave different bundles")
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	other := newKey(t)
	good := Policy{Board: "qemu-virt", Installed: 100}
	hl := headerLen(f.bundle)
	flip := func(at int) []byte {
		b := bytes.Clone(f.bundle)
		b[at] ^= 0x40
		return b
	}
	for _, tt := range []struct {
		name   string
		bundle []byte
		keys   Keys
		pol    Policy
		want   Reason
	}{
		{"unsigned", f.write(t, nil), f.keys, good, Unsigned},
		{"signed by another key", f.write(t, other), f.keys, good, BadSignature},
		{"manifest changed after signing", flip(len(Magic) + 4 + 10), f.keys, good, BadSignature},
		{"signature changed", flip(hl - 3), f.keys, good, BadSignature},
		{"box without keys", f.bundle, Keys{}, good, NoKeys},
		{"wrong board", f.bundle, f.keys, Policy{Board: "rpi4", Installed: 100}, WrongBoard},
		{"same counter", f.bundle, f.keys, Policy{Board: "qemu-virt", Installed: 200}, OldCounter},
		{"older counter", f.bundle, f.keys, Policy{Board: "qemu-virt", Installed: 300}, OldCounter},
		{"truncated in the header", f.bundle[:len(Magic)+20], f.keys, good, Truncated},
		{"truncated in the first part", f.bundle[:hl+10], f.keys, good, Truncated},
		{"truncated in the last part", f.bundle[:len(f.bundle)-5], f.keys, good, Truncated},
		{"empty", nil, f.keys, good, Truncated},
		{"corrupted first part", flip(hl + 200), f.keys, good, Corrupted},
		{"corrupted last part", flip(len(f.bundle) - 3), f.keys, good, Corrupted},
		{"bytes after the end", append(bytes.Clone(f.bundle), 0), f.keys, good, Corrupted},
		{"not a bundle", []byte(strings.Repeat("x", 100)), f.keys, good, Malformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(tt.bundle, tt.keys, tt.pol)
			if got := ReasonOf(err); got != tt.want {
				t.Fatalf("got reason %q (%v), want %q", got, err, tt.want)
			}
			var r *Refusal
			if !errorsAs(err, &r) || r.Vietnamese() == "" || r.English() == "" {
				t.Fatalf("refusal without both messages: %v", err)
			}
		})
	}
}

// TestRefusedBeforeParts: a bundle refused for its header gives no part,
// so a box writes nothing.
func TestRefusedBeforeParts(t *testing.T) {
	f := newFixture(t)
	r, err := ReadHeader(bytes.NewReader(f.bundle), f.keys, Policy{Board: "rpi4"})
	if err == nil || r != nil {
		t.Fatalf("got reader %v, err %v; want a refusal and no reader", r, err)
	}
}

func TestOmittedPart(t *testing.T) {
	f := newFixture(t)
	for i := range f.srcs {
		if f.srcs[i].Name == "vmlinuz" {
			f.srcs[i].Omit = true
		}
	}
	b := f.write(t, f.key)
	r, err := ReadHeader(bytes.NewReader(b), f.keys, Policy{Board: "qemu-virt"})
	if err != nil {
		t.Fatal(err)
	}
	var omitted []Part
	for _, p := range r.Manifest.Parts {
		if p.Omitted {
			omitted = append(omitted, p)
		}
	}
	sum := sha256.Sum256(f.files["vmlinuz"])
	if len(omitted) != 1 || omitted[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("omitted parts %+v, want vmlinuz with its hash", omitted)
	}
	got, err := readAll(b, f.keys, Policy{Board: "qemu-virt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["vmlinuz"]; ok || len(got) != 2 {
		t.Fatalf("got parts %d, want the two stored ones", len(got))
	}
}

func TestKeysFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "release.key")
	pub, err := GenerateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(path); err == nil {
		t.Fatal("GenerateKey overwrote a key")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
	priv, err := LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(PublicKey(priv), pub) {
		t.Fatal("loaded key's public half differs")
	}
	next := PublicKey(newKey(t))
	k, err := ParseKeys(bytes.NewReader(FormatKeys(Keys{Current: pub, Next: next})))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Current, pub) || !bytes.Equal(k.Next, next) {
		t.Fatal("keys file did not round-trip")
	}
	for _, bad := range []string{"", "current zz\n", "current 00\n", "other " + hex.EncodeToString(pub) + "\n"} {
		if _, err := ParseKeys(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

func TestBadNames(t *testing.T) {
	for _, n := range []string{"", "/etc/passwd", "../x", "a/../../b", ".", "a//b", "a b", "x\x00"} {
		if CheckName(n) == nil {
			t.Errorf("CheckName(%q) accepted", n)
		}
	}
	for _, n := range []string{"vmlinuz", "initrd.cpio", "overlays/x.dtbo", "bcm2711-rpi-4-b.dtb"} {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q): %v", n, err)
		}
	}
}

// FuzzReadBundle: any bytes give parts that match the manifest or a
// refusal, never a panic; the box's keys sign the seed corpus so that the
// fuzzer reaches the part readers.
func FuzzReadBundle(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.bundle)
	f.Add(fx.write(f, nil))
	f.Add(fx.bundle[:headerLen(fx.bundle)+30])
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := readAll(b, fx.keys, Policy{Board: "qemu-virt"})
		if err != nil {
			return
		}
		for name, data := range parts {
			if want, ok := fx.files[name]; !ok || !bytes.Equal(data, want) {
				t.Fatalf("accepted part %s differs from what was signed", name)
			}
		}
	})
}

func errorsAs(err error, r **Refusal) bool { return errors.As(err, r) }

// TestXZCommand: XZ Utils' stream reads back through the box's reader,
// and twice the same input gives the same bytes.
func TestXZCommand(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		if os.Getenv("MATTHAN_REQUIRE_TOOLS") == "1" {
			t.Fatal("xz missing (Debian package xz-utils)")
		}
		t.Skip("xz missing (Debian package xz-utils)")
	}
	f := newFixture(t)
	write := func() []byte {
		var buf bytes.Buffer
		if _, err := WriteWith(&buf, f.rel, f.srcs, f.key, XZCommand); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	b := write()
	if !bytes.Equal(b, write()) {
		t.Fatal("xz gave different bytes for the same input")
	}
	got, err := readAll(b, f.keys, Policy{Board: "qemu-virt"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range f.files {
		if !bytes.Equal(got[name], want) {
			t.Errorf("part %s differs after xz", name)
		}
	}
}
