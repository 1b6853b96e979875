// Package evidence is the box's evidence signature: the box key (ed25519,
// made on first boot, kept on the data partition), its published
// fingerprint, the export manifest, and the check an investigator runs on
// an ordinary PC (Verify; the command is daemon/cmd/matthan-verify).
//
// A manifest is trusted only through a key the investigator got from the
// box itself (its fingerprint on the system page, the self-test or the
// console, or the public key file the system page offers): the key a
// manifest names is used only when its fingerprint is the trusted one.
//
// The package knows nothing about HTTP, storage or accounts, so the verify
// command stays small and pure Go.
package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// KeyFile and PubFile are the box key's file names in the admin page's
// data folder (DATA/web): the private key (PKCS#8 PEM, mode 0600) and its
// public half (PKIX PEM), which the self-test and the system page read.
const (
	KeyFile = "export-signing.key"
	PubFile = "export-signing.pub"
)

// BoxKeyDir is the folder below the box's data folder (/data) that holds
// the key files: the admin page's own data folder.
const BoxKeyDir = "web"

// PubPath is the public key file of the key at keyPath.
func PubPath(keyPath string) string { return filepath.Join(filepath.Dir(keyPath), PubFile) }

// LoadOrCreateKey reads the box's ed25519 key at path, making it on first
// boot. Creation never replaces a key another process made meanwhile (the
// file is linked into place only if absent), so every signer of the box
// uses the one key on disk. The public half is (re)written to PubPath.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	k, err := loadKey(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err = createKey(path)
	}
	if err != nil {
		return nil, err
	}
	pub := k.Public().(ed25519.PublicKey)
	want := PublicKeyPEM(pub)
	if have, err := os.ReadFile(PubPath(path)); err != nil || string(have) != string(want) {
		if err := atomicfile.Write(PubPath(path), want, 0o644); err != nil {
			return nil, fmt.Errorf("box key: %w", err)
		}
	}
	return k, nil
}

// BoxFingerprint reads the fingerprint of the box key below the box's data
// folder (DATA/web): from the public key file, or from the key itself when
// no public key file was written yet. It never makes a key.
func BoxFingerprint(dataDir string) (string, error) {
	keyPath := filepath.Join(dataDir, BoxKeyDir, KeyFile)
	if b, err := os.ReadFile(PubPath(keyPath)); err == nil {
		pub, err := ParsePublicKey(b)
		if err != nil {
			return "", fmt.Errorf("box key %s: %w", PubPath(keyPath), err)
		}
		return Fingerprint(pub), nil
	}
	k, err := loadKey(keyPath)
	if err != nil {
		return "", err
	}
	return Fingerprint(k.Public().(ed25519.PublicKey)), nil
}

func loadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("box key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("box key %s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("box key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("box key %s: not ed25519", path)
	}
	return ek, nil
}

func createKey(path string) (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("box key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("box key: %w", err)
	}
	err = atomicfile.Create(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadKey(path) // another process made it first: use that one
	}
	if err != nil {
		return nil, fmt.Errorf("box key: %w", err)
	}
	return k, nil
}

// PublicKeyPEM is the public key as a PKIX PEM block (what the system page
// offers for download and `matthan-verify --key FILE` reads).
func PublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // an ed25519 key always marshals
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey reads an ed25519 public key: a PKIX PEM block ("PUBLIC
// KEY"), or the 32 raw bytes in base64 (as a manifest carries them).
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("public key: PEM block %q, want PUBLIC KEY", blk.Type)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("public key: not ed25519")
		}
		return ek, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("public key: neither PEM nor a base64 ed25519 key")
	}
	return ed25519.PublicKey(raw), nil
}

// Fingerprint is the box key's published fingerprint: the SHA-256 of the
// 32 raw bytes of the ed25519 public key, upper-case hex in 16 groups of
// four joined by '-' (e.g. "3F2A-9C01-…"), short enough to read out over
// the phone and compare group by group.
func Fingerprint(pub ed25519.PublicKey) string { return formatSum(sha256.Sum256(pub)) }

func formatSum(sum [32]byte) string {
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(h[i : i+4])
	}
	return b.String()
}

// ErrBadFingerprint is returned by ParseFingerprint.
var ErrBadFingerprint = errors.New("not a box key fingerprint (64 hex digits)")

// ParseFingerprint reads a fingerprint as people copy it: any case, with
// or without '-', ':' or spaces between the digits. All 64 digits are
// required: a shortened fingerprint would be easy to forge.
func ParseFingerprint(s string) ([32]byte, error) {
	var out [32]byte
	clean := strings.Map(func(r rune) rune {
		switch r {
		case '-', ':', ' ', '\t':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(clean) != 64 {
		return out, ErrBadFingerprint
	}
	if _, err := hex.Decode(out[:], []byte(clean)); err != nil {
		return out, ErrBadFingerprint
	}
	return out, nil
}

// Trust is the box key an investigator trusts, by its fingerprint.
type Trust struct{ sum [32]byte }

// TrustKey trusts pub.
func TrustKey(pub ed25519.PublicKey) Trust { return Trust{sha256.Sum256(pub)} }

// TrustFingerprint trusts the key with the fingerprint s (ParseFingerprint).
func TrustFingerprint(s string) (Trust, error) {
	sum, err := ParseFingerprint(s)
	return Trust{sum}, err
}

// Trusts says whether pub is the trusted key.
func (t Trust) Trusts(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && sha256.Sum256(pub) == t.sum
}

// Fingerprint is the trusted key's fingerprint.
func (t Trust) Fingerprint() string { return formatSum(t.sum) }
