package datapart

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// The GUID partition table, as much of it as growing the last partition
// needs: the header at LBA 1 and its copy at the disk's last LBA, each
// with a CRC32 of itself and of its entry array.

var gptSignature = []byte("EFI PART")

// errNoGPT means the sectors read hold no valid GPT header or entries.
var errNoGPT = errors.New("no valid GPT")

type gptHeader struct {
	HeaderSize  uint32
	Current     uint64
	Backup      uint64
	FirstUsable uint64
	LastUsable  uint64
	DiskGUID    [16]byte
	EntriesLBA  uint64
	NumEntries  uint32
	EntrySize   uint32
	EntriesCRC  uint32
	Revision    uint32
}

// entriesBytes is the size of the entry array.
func (h gptHeader) entriesBytes() int64 { return int64(h.NumEntries) * int64(h.EntrySize) }

func parseGPTHeader(b []byte) (gptHeader, error) {
	var h gptHeader
	if len(b) < 92 || !bytes.Equal(b[:8], gptSignature) {
		return h, fmt.Errorf("%w: no signature", errNoGPT)
	}
	le := binary.LittleEndian
	h.Revision = le.Uint32(b[8:])
	h.HeaderSize = le.Uint32(b[12:])
	if h.HeaderSize < 92 || int(h.HeaderSize) > len(b) {
		return h, fmt.Errorf("%w: header size %d", errNoGPT, h.HeaderSize)
	}
	sum := le.Uint32(b[16:])
	tmp := append([]byte(nil), b[:h.HeaderSize]...)
	le.PutUint32(tmp[16:], 0)
	if crc32.ChecksumIEEE(tmp) != sum {
		return h, fmt.Errorf("%w: header checksum", errNoGPT)
	}
	h.Current = le.Uint64(b[24:])
	h.Backup = le.Uint64(b[32:])
	h.FirstUsable = le.Uint64(b[40:])
	h.LastUsable = le.Uint64(b[48:])
	copy(h.DiskGUID[:], b[56:72])
	h.EntriesLBA = le.Uint64(b[72:])
	h.NumEntries = le.Uint32(b[80:])
	h.EntrySize = le.Uint32(b[84:])
	h.EntriesCRC = le.Uint32(b[88:])
	if h.EntrySize < 128 || h.EntrySize%8 != 0 || h.NumEntries == 0 || h.entriesBytes() > 1<<20 {
		return h, fmt.Errorf("%w: %d entries of %d bytes", errNoGPT, h.NumEntries, h.EntrySize)
	}
	return h, nil
}

// marshal returns the header in one sector, with its checksum.
func (h gptHeader) marshal(sector int64) []byte {
	b := make([]byte, sector)
	le := binary.LittleEndian
	copy(b, gptSignature)
	le.PutUint32(b[8:], h.Revision)
	le.PutUint32(b[12:], 92)
	le.PutUint64(b[24:], h.Current)
	le.PutUint64(b[32:], h.Backup)
	le.PutUint64(b[40:], h.FirstUsable)
	le.PutUint64(b[48:], h.LastUsable)
	copy(b[56:72], h.DiskGUID[:])
	le.PutUint64(b[72:], h.EntriesLBA)
	le.PutUint32(b[80:], h.NumEntries)
	le.PutUint32(b[84:], h.EntrySize)
	le.PutUint32(b[88:], h.EntriesCRC)
	le.PutUint32(b[16:], crc32.ChecksumIEEE(b[:92]))
	return b
}

// readGPT reads and checks the header at lba and its entry array.
func readGPT(r io.ReaderAt, lba, sector int64) (gptHeader, []byte, error) {
	hb := make([]byte, sector)
	if _, err := r.ReadAt(hb, lba*sector); err != nil {
		return gptHeader{}, nil, fmt.Errorf("read GPT header at LBA %d: %w", lba, err)
	}
	h, err := parseGPTHeader(hb)
	if err != nil {
		return h, nil, fmt.Errorf("GPT header at LBA %d: %w", lba, err)
	}
	if h.Current != uint64(lba) {
		return h, nil, fmt.Errorf("GPT header at LBA %d says it is at %d: %w", lba, h.Current, errNoGPT)
	}
	ents := make([]byte, h.entriesBytes())
	if _, err := r.ReadAt(ents, int64(h.EntriesLBA)*sector); err != nil {
		return h, nil, fmt.Errorf("read GPT entries at LBA %d: %w", h.EntriesLBA, err)
	}
	if crc32.ChecksumIEEE(ents) != h.EntriesCRC {
		return h, nil, fmt.Errorf("GPT entries of the header at LBA %d: %w: checksum", lba, errNoGPT)
	}
	return h, ents, nil
}

// gptEntry is one partition of the entry array.
type gptEntry struct {
	Index       int // 0-based; Linux numbers it Index+1
	First, Last uint64
	Name        string
}

func entries(h gptHeader, ents []byte) []gptEntry {
	var out []gptEntry
	for i := 0; i < int(h.NumEntries); i++ {
		e := ents[i*int(h.EntrySize):][:h.EntrySize]
		if allZero(e[:16]) {
			continue // unused
		}
		le := binary.LittleEndian
		u := make([]uint16, 36)
		for j := range u {
			u[j] = le.Uint16(e[56+2*j:])
		}
		n := 0
		for n < len(u) && u[n] != 0 {
			n++
		}
		out = append(out, gptEntry{Index: i, First: le.Uint64(e[32:]), Last: le.Uint64(e[40:]), Name: string(utf16.Decode(u[:n]))})
	}
	return out
}

func setLast(h gptHeader, ents []byte, index int, last uint64) {
	binary.LittleEndian.PutUint64(ents[index*int(h.EntrySize)+40:], last)
}

// sectorsFor is how many sectors n bytes take.
func sectorsFor(n, sector int64) int64 { return (n + sector - 1) / sector }
