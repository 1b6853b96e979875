package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"

	"github.com/matthan/matthan/firmware"
	"github.com/ulikunitz/xz"
)

// Source is a file to put in a bundle.
type Source struct {
	Name string // the file's path inside the slot
	Path string // where the build wrote it
	// Compress stores the part xz-compressed (the box decompresses it as
	// it writes; the manifest's SHA-256 is that of the installed file).
	Compress bool
	// Omit leaves the part out: the box keeps its running slot's copy,
	// which must have the same SHA-256.
	Omit bool
}

// xzConfig is fixed, so that the same input gives the same bytes. An
// 8 MiB dictionary keeps the box's memory for decompressing small.
var xzConfig = xz.WriterConfig{DictCap: 8 << 20, CheckSum: xz.CRC64}

// Compressor turns a part into an xz stream; the same input must give the
// same bytes.
type Compressor func(raw []byte) ([]byte, error)

// GoXZ compresses in pure Go (github.com/ulikunitz/xz): quick, about 40 %
// larger than xz -9e on the initramfs.
func GoXZ(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := xzConfig.NewWriter(&buf)
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	return buf.Bytes(), nil
}

// XZCommand compresses with XZ Utils' xz: one thread (so the output does
// not depend on the machine), preset 9e with a 32 MiB dictionary (what
// the box needs to decompress). Release bundles use it.
func XZCommand(raw []byte) ([]byte, error) {
	cmd := exec.Command("xz", "-T1", "--lzma2=preset=9e,dict=32MiB", "--check=crc64", "-c")
	cmd.Stdin = bytes.NewReader(raw)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xz: %w: %s (install the Debian package xz-utils)", err, stderr.Bytes())
	}
	return out.Bytes(), nil
}

// Write writes a bundle of the release and the sources (sorted by name) to
// w, signed with key, compressing with GoXZ; a nil key writes an unsigned
// bundle (which every box refuses: tests use it). The same inputs give the
// same bytes.
func Write(w io.Writer, rel firmware.Release, sources []Source, key ed25519.PrivateKey) (*Manifest, error) {
	return WriteWith(w, rel, sources, key, GoXZ)
}

// WriteWith is Write with another xz compressor.
func WriteWith(w io.Writer, rel firmware.Release, sources []Source, key ed25519.PrivateKey, compress Compressor) (*Manifest, error) {
	srcs := append([]Source(nil), sources...)
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	m := &Manifest{Format: 1, Release: rel}
	var stored [][]byte
	for _, s := range srcs {
		raw, err := os.ReadFile(s.Path)
		if err != nil {
			return nil, fmt.Errorf("bundle: part %s: %w", s.Name, err)
		}
		sum := sha256.Sum256(raw)
		p := Part{Name: s.Name, Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:])}
		var data []byte
		switch {
		case s.Omit:
			p.Omitted = true
		case s.Compress:
			if data, err = compress(raw); err != nil {
				return nil, fmt.Errorf("bundle: part %s: %w", s.Name, err)
			}
			p.Compression = XZ
		default:
			data = raw
		}
		p.Stored = int64(len(data))
		m.Parts = append(m.Parts, p)
		stored = append(stored, data)
	}
	if err := m.Check(); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	mb, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, fmt.Errorf("bundle: manifest: %w", err)
	}
	var sig []byte
	if key != nil {
		sig = ed25519.Sign(key, append([]byte(SignedPrefix), mb...))
	}
	var head bytes.Buffer
	head.WriteString(Magic)
	binary.Write(&head, binary.BigEndian, uint32(len(mb)))
	head.Write(mb)
	binary.Write(&head, binary.BigEndian, uint16(len(sig)))
	head.Write(sig)
	if _, err := w.Write(head.Bytes()); err != nil {
		return nil, fmt.Errorf("bundle: write: %w", err)
	}
	for _, d := range stored {
		if _, err := w.Write(d); err != nil {
			return nil, fmt.Errorf("bundle: write: %w", err)
		}
	}
	return m, nil
}
