package bundle

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// KeysPathOnBox is where the initramfs (the box's read-only image)
// carries the public keys it trusts.
const KeysPathOnBox = "/etc/matthan/update-keys"

// A private key file holds one line: "matthan-update-key " and the hex of
// the 32-byte ed25519 seed. A public keys file holds "current HEX" and
// optionally "next HEX" lines ('#' starts a comment).
const privatePrefix = "matthan-update-key "

// GenerateKey writes a new private key to path (mode 0600, refusing to
// overwrite) and returns its public key.
func GenerateKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s%s\n", privatePrefix, hex.EncodeToString(priv.Seed()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return pub, nil
}

// LoadPrivateKey reads a key written by GenerateKey.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if !strings.HasPrefix(s, privatePrefix) {
		return nil, fmt.Errorf("key %s: not a matthan update key", path)
	}
	seed, err := hex.DecodeString(strings.TrimPrefix(s, privatePrefix))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key %s: bad seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// FormatKeys is the public keys file for the box.
func FormatKeys(k Keys) []byte {
	var b bytes.Buffer
	b.WriteString("# ed25519 public keys that sign Mắt Thần update bundles\n")
	if k.Current != nil {
		fmt.Fprintf(&b, "current %s\n", hex.EncodeToString(k.Current))
	}
	if k.Next != nil {
		fmt.Fprintf(&b, "next %s\n", hex.EncodeToString(k.Next))
	}
	return b.Bytes()
}

// ParseKeys reads a public keys file.
func ParseKeys(r io.Reader) (Keys, error) {
	var k Keys
	sc := bufio.NewScanner(io.LimitReader(r, 4<<10))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, _ := strings.Cut(line, " ")
		b, err := hex.DecodeString(strings.TrimSpace(val))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return Keys{}, fmt.Errorf("keys: bad %s key", name)
		}
		switch name {
		case "current":
			k.Current = b
		case "next":
			k.Next = b
		default:
			return Keys{}, fmt.Errorf("keys: unknown line %q", name)
		}
	}
	if err := sc.Err(); err != nil {
		return Keys{}, fmt.Errorf("keys: %w", err)
	}
	if k.Current == nil && k.Next == nil {
		return Keys{}, errors.New("keys: none")
	}
	return k, nil
}

// LoadKeys reads a public keys file.
func LoadKeys(path string) (Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return Keys{}, err
	}
	defer f.Close()
	k, err := ParseKeys(f)
	if err != nil {
		return Keys{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// PublicKey returns the public half of a private key.
func PublicKey(priv ed25519.PrivateKey) ed25519.PublicKey {
	return priv.Public().(ed25519.PublicKey)
}
