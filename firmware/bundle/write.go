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

// Write writes a bundle of the release and the sources (sorted by name) to
// w, signed with key; a nil key writes an unsigned bundle (which every box
// refuses: tests use it). The same inputs give the same bytes.
func Write(w io.Writer, rel firmware.Release, sources []Source, key ed25519.PrivateKey) (*Manifest, error) {
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
			var buf bytes.Buffer
			zw, err := xzConfig.NewWriter(&buf)
			if err != nil {
				return nil, fmt.Errorf("bundle: xz: %w", err)
			}
			if _, err := zw.Write(raw); err != nil {
				return nil, fmt.Errorf("bundle: xz %s: %w", s.Name, err)
			}
			if err := zw.Close(); err != nil {
				return nil, fmt.Errorf("bundle: xz %s: %w", s.Name, err)
			}
			data = buf.Bytes()
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
