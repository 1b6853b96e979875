package disks

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// GPT constants (UEFI 2.10 §5.3).
const (
	gptEntries   = 128
	gptEntrySize = 128
	alignBytes   = 1 << 20 // partitions start and end on MiB boundaries
)

// linuxFSType is the GPT type GUID of a Linux file system partition.
var linuxFSType = mustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")

// WriteGPT writes a new GUID partition table onto a disk of size bytes with
// sectors of ss bytes: a protective MBR, the primary header and entries, one
// partition named name from 1 MiB to the last whole MiB before the backup
// table, and the backup entries and header. It returns the partition's
// byte offset and length. Everything else on the disk is left as it was.
func WriteGPT(w io.WriterAt, size int64, ss int, name string) (off, length int64, err error) {
	if ss < 512 || ss&(ss-1) != 0 {
		return 0, 0, fmt.Errorf("gpt: sector size %d", ss)
	}
	entriesBytes := int64(gptEntries * gptEntrySize)
	entrySectors := (entriesBytes + int64(ss) - 1) / int64(ss)
	sectors := size / int64(ss)
	last := sectors - 1
	firstUsable := 2 + entrySectors
	lastUsable := last - 1 - entrySectors
	start := int64(alignBytes) / int64(ss)
	end := (lastUsable+1)*int64(ss)/alignBytes*alignBytes/int64(ss) - 1 // last sector before a MiB boundary
	if size < 8*alignBytes || end <= start || start < firstUsable {
		return 0, 0, fmt.Errorf("gpt: a disk of %d bytes is too small", size)
	}
	if len(utf16.Encode([]rune(name))) > 36 {
		return 0, 0, errors.New("gpt: partition name longer than 36 UTF-16 units")
	}

	// The partition entry array.
	entries := make([]byte, entrySectors*int64(ss))
	e := entries[:gptEntrySize]
	copy(e[0:16], linuxFSType[:])
	partGUID, diskGUID := randomGUID(), randomGUID()
	copy(e[16:32], partGUID[:])
	binary.LittleEndian.PutUint64(e[32:], uint64(start))
	binary.LittleEndian.PutUint64(e[40:], uint64(end))
	for i, u := range utf16.Encode([]rune(name)) {
		binary.LittleEndian.PutUint16(e[56+2*i:], u)
	}
	entriesCRC := crc32.ChecksumIEEE(entries[:entriesBytes])

	header := func(self, other, entriesLBA int64) []byte {
		h := make([]byte, ss)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], uint64(self))
		binary.LittleEndian.PutUint64(h[32:], uint64(other))
		binary.LittleEndian.PutUint64(h[40:], uint64(firstUsable))
		binary.LittleEndian.PutUint64(h[48:], uint64(lastUsable))
		copy(h[56:72], diskGUID[:])
		binary.LittleEndian.PutUint64(h[72:], uint64(entriesLBA))
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}

	// Protective MBR: one partition of type 0xEE over the whole disk.
	mbr := make([]byte, ss)
	p := mbr[446:462]
	copy(p[1:4], []byte{0x00, 0x02, 0x00})
	p[4] = 0xEE
	copy(p[5:8], []byte{0xFF, 0xFF, 0xFF})
	binary.LittleEndian.PutUint32(p[8:], 1)
	binary.LittleEndian.PutUint32(p[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	mbr[510], mbr[511] = 0x55, 0xAA

	backupEntries := last - entrySectors
	writes := []struct {
		lba int64
		b   []byte
	}{
		// Backup first: a torn write leaves no valid primary pointing at it.
		{backupEntries, entries},
		{last, header(last, 1, backupEntries)},
		{2, entries},
		{1, header(1, last, 2)},
		{0, mbr},
	}
	for _, wr := range writes {
		if _, err := w.WriteAt(wr.b, wr.lba*int64(ss)); err != nil {
			return 0, 0, fmt.Errorf("gpt: write sector %d: %w", wr.lba, err)
		}
	}
	return start * int64(ss), (end - start + 1) * int64(ss), nil
}

type guid [16]byte

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
