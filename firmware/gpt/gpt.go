// Package gpt reads and writes the GUID partition table (UEFI 2.10 §5.3),
// as much of it as the firmware needs: a fresh table with one partition
// (a recording disk, daemon/disks), and reading, checking and rewriting the
// headers and entries of an existing one (growing the data partition,
// firmware/datapart; the QEMU runner's firmware update). Standard library only.
package gpt

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// Align is where partitions start and end: on MiB boundaries.
const Align = 1 << 20

// The entry array a new table gets.
const (
	newEntries   = 128
	newEntrySize = 128
)

var signature = []byte("EFI PART")

// ErrNoGPT means the sectors read hold no valid GPT header or entries.
var ErrNoGPT = errors.New("no valid GPT")

// LinuxFS is the GPT type GUID of a Linux file system partition.
var LinuxFS = mustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")

// Header is a GPT header, primary (at LBA 1) or backup (at the disk's last LBA).
type Header struct {
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

// EntriesBytes is the size of the entry array.
func (h Header) EntriesBytes() int64 { return int64(h.NumEntries) * int64(h.EntrySize) }

// ParseHeader checks and decodes a header sector.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < 92 || !bytes.Equal(b[:8], signature) {
		return h, fmt.Errorf("%w: no signature", ErrNoGPT)
	}
	le := binary.LittleEndian
	h.Revision = le.Uint32(b[8:])
	h.HeaderSize = le.Uint32(b[12:])
	if h.HeaderSize < 92 || int(h.HeaderSize) > len(b) {
		return h, fmt.Errorf("%w: header size %d", ErrNoGPT, h.HeaderSize)
	}
	sum := le.Uint32(b[16:])
	tmp := append([]byte(nil), b[:h.HeaderSize]...)
	le.PutUint32(tmp[16:], 0)
	if crc32.ChecksumIEEE(tmp) != sum {
		return h, fmt.Errorf("%w: header checksum", ErrNoGPT)
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
	if h.EntrySize < 128 || h.EntrySize%8 != 0 || h.NumEntries == 0 || h.EntriesBytes() > 1<<20 {
		return h, fmt.Errorf("%w: %d entries of %d bytes", ErrNoGPT, h.NumEntries, h.EntrySize)
	}
	return h, nil
}

// Marshal returns the header in one sector, with its checksum.
func (h Header) Marshal(sector int64) []byte {
	b := make([]byte, sector)
	le := binary.LittleEndian
	copy(b, signature)
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

// Read reads and checks the header at lba and its entry array.
func Read(r io.ReaderAt, lba, sector int64) (Header, []byte, error) {
	hb := make([]byte, sector)
	if _, err := r.ReadAt(hb, lba*sector); err != nil {
		return Header{}, nil, fmt.Errorf("read GPT header at LBA %d: %w", lba, err)
	}
	h, err := ParseHeader(hb)
	if err != nil {
		return h, nil, fmt.Errorf("GPT header at LBA %d: %w", lba, err)
	}
	if h.Current != uint64(lba) {
		return h, nil, fmt.Errorf("GPT header at LBA %d says it is at %d: %w", lba, h.Current, ErrNoGPT)
	}
	ents := make([]byte, h.EntriesBytes())
	if _, err := r.ReadAt(ents, int64(h.EntriesLBA)*sector); err != nil {
		return h, nil, fmt.Errorf("read GPT entries at LBA %d: %w", h.EntriesLBA, err)
	}
	if crc32.ChecksumIEEE(ents) != h.EntriesCRC {
		return h, nil, fmt.Errorf("GPT entries of the header at LBA %d: %w: checksum", lba, ErrNoGPT)
	}
	return h, ents, nil
}

// Entry is one used partition of the entry array.
type Entry struct {
	Index       int // 0-based; Linux numbers it Index+1
	First, Last uint64
	Name        string
}

// Entries lists the used entries of an entry array read with h.
func Entries(h Header, ents []byte) []Entry {
	var out []Entry
	for i := 0; i < int(h.NumEntries); i++ {
		e := ents[i*int(h.EntrySize):][:h.EntrySize]
		if [16]byte(e[:16]) == [16]byte{} {
			continue // unused: no type GUID
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
		out = append(out, Entry{Index: i, First: le.Uint64(e[32:]), Last: le.Uint64(e[40:]), Name: string(utf16.Decode(u[:n]))})
	}
	return out
}

// SetLast sets the last LBA of entry index in ents (the caller then sets
// h.EntriesCRC).
func SetLast(h Header, ents []byte, index int, last uint64) {
	binary.LittleEndian.PutUint64(ents[index*int(h.EntrySize)+40:], last)
}

// SectorsFor is how many sectors n bytes take.
func SectorsFor(n, sector int64) int64 { return (n + sector - 1) / sector }

// PMBRSize is the size field of a protective MBR's 0xEE partition on a
// disk whose last LBA is lastLBA: the whole disk, as far as 32 bits go.
func PMBRSize(lastLBA int64) uint32 { return uint32(min(lastLBA, 0xFFFFFFFF)) }

// Write writes a new GUID partition table onto a disk of size bytes with
// sectors of ss bytes: a protective MBR, the primary header and entries, one
// Linux partition named name from 1 MiB to the last whole MiB before the
// backup table, and the backup entries and header. It returns the
// partition's byte offset and length. Everything else on the disk is left
// as it was.
func Write(w io.WriterAt, size int64, ss int, name string) (off, length int64, err error) {
	if ss < 512 || ss&(ss-1) != 0 {
		return 0, 0, fmt.Errorf("gpt: sector size %d", ss)
	}
	sector := int64(ss)
	h := Header{Revision: 0x00010000, NumEntries: newEntries, EntrySize: newEntrySize}
	entrySectors := SectorsFor(h.EntriesBytes(), sector)
	last := size/sector - 1
	h.FirstUsable = uint64(2 + entrySectors)
	lastUsable := last - 1 - entrySectors
	h.LastUsable = uint64(lastUsable)
	start := int64(Align) / sector
	end := (lastUsable+1)*sector/Align*Align/sector - 1 // last sector before a MiB boundary
	if size < 8*Align || end <= start || start < int64(h.FirstUsable) {
		return 0, 0, fmt.Errorf("gpt: a disk of %d bytes is too small", size)
	}
	name16 := utf16.Encode([]rune(name))
	if len(name16) > 36 {
		return 0, 0, errors.New("gpt: partition name longer than 36 UTF-16 units")
	}

	// The partition entry array.
	entries := make([]byte, entrySectors*sector)
	e := entries[:newEntrySize]
	copy(e[0:16], LinuxFS[:])
	partGUID := randomGUID()
	copy(e[16:32], partGUID[:])
	binary.LittleEndian.PutUint64(e[32:], uint64(start))
	binary.LittleEndian.PutUint64(e[40:], uint64(end))
	for i, u := range name16 {
		binary.LittleEndian.PutUint16(e[56+2*i:], u)
	}
	h.EntriesCRC = crc32.ChecksumIEEE(entries[:h.EntriesBytes()])
	h.DiskGUID = randomGUID()

	// Protective MBR: one partition of type 0xEE over the whole disk.
	mbr := make([]byte, ss)
	p := mbr[446:462]
	copy(p[1:4], []byte{0x00, 0x02, 0x00})
	p[4] = 0xEE
	copy(p[5:8], []byte{0xFF, 0xFF, 0xFF})
	binary.LittleEndian.PutUint32(p[8:], 1)
	binary.LittleEndian.PutUint32(p[12:], PMBRSize(last))
	mbr[510], mbr[511] = 0x55, 0xAA

	primary, backup := h, h
	primary.Current, primary.Backup, primary.EntriesLBA = 1, uint64(last), 2
	backup.Current, backup.Backup, backup.EntriesLBA = uint64(last), 1, uint64(last-entrySectors)
	writes := []struct {
		lba int64
		b   []byte
	}{
		// Backup first: a torn write leaves no valid primary pointing at it.
		{int64(backup.EntriesLBA), entries},
		{last, backup.Marshal(sector)},
		{2, entries},
		{1, primary.Marshal(sector)},
		{0, mbr},
	}
	for _, wr := range writes {
		if _, err := w.WriteAt(wr.b, wr.lba*sector); err != nil {
			return 0, 0, fmt.Errorf("gpt: write sector %d: %w", wr.lba, err)
		}
	}
	return start * sector, (end - start + 1) * sector, nil
}

type guid = [16]byte

// mustGUID encodes a textual GUID the mixed-endian way GPT stores it.
func mustGUID(s string) guid {
	var g guid
	var raw [16]byte
	j := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		var v byte
		for k := range 2 {
			c := s[i+k]
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | (c - '0')
			case c >= 'A' && c <= 'F':
				v = v<<4 | (c - 'A' + 10)
			case c >= 'a' && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			default:
				panic("bad GUID " + s)
			}
		}
		raw[j] = v
		j++
		i++
	}
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g
}

func randomGUID() guid {
	var g guid
	rand.Read(g[:])
	g[7] = g[7]&0x0f | 0x40 // version 4 (byte 7 is the high byte of field 3, stored little-endian)
	g[8] = g[8]&0x3f | 0x80
	return g
}
