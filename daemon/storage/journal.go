package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The journal of one camera is an append-only file of fixed 32-byte records:
//
//	[0]     kind: 'O' segment opened, 'C' segment closed, 'D' segment deleted
//	[1]     TimeFlags ('O': at the open; 'C': over the whole segment); zero
//	        in journals written before the flags existed
//	[2:4]   zero
//	[4:12]  start, Unix nanoseconds (names the segment and its file)
//	[12:20] end, Unix nanoseconds ('C' only)
//	[20:28] size in bytes ('C' only)
//	[28:32] CRC-32C of [0:28]
//
// after a 32-byte header record (journalMagic). A torn last record (power cut
// mid-append) fails its CRC and is cut off at load.
const recordSize = 32

const journalMagic = "MATTHAN SEGMENT JOURNAL v1\n\x00\x00\x00\x00\x00"

const (
	recOpen   = 'O'
	recClose  = 'C'
	recDelete = 'D'
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type record struct {
	kind       byte
	flags      TimeFlags
	start, end int64
	size       int64
}

func (r record) append(b []byte) []byte {
	var buf [recordSize]byte
	buf[0] = r.kind
	buf[1] = byte(r.flags & timeFlagsMask)
	binary.LittleEndian.PutUint64(buf[4:], uint64(r.start))
	binary.LittleEndian.PutUint64(buf[12:], uint64(r.end))
	binary.LittleEndian.PutUint64(buf[20:], uint64(r.size))
	binary.LittleEndian.PutUint32(buf[28:], crc32.Checksum(buf[:28], crcTable))
	return append(b, buf[:]...)
}

func decodeRecord(b []byte) (record, bool) {
	if crc32.Checksum(b[:28], crcTable) != binary.LittleEndian.Uint32(b[28:]) {
		return record{}, false
	}
	r := record{
		kind:  b[0],
		flags: TimeFlags(b[1]) & timeFlagsMask,
		start: int64(binary.LittleEndian.Uint64(b[4:])),
		end:   int64(binary.LittleEndian.Uint64(b[12:])),
		size:  int64(binary.LittleEndian.Uint64(b[20:])),
	}
	switch r.kind {
	case recOpen, recDelete:
	case recClose:
		if r.end < r.start || r.size < 0 {
			return record{}, false
		}
	default:
		return record{}, false
	}
	return r, true
}

var errNotJournal = errors.New("not a segment journal")

// parseJournal decodes a journal file's bytes. It returns the records, the
// length of the valid prefix (a torn tail after it is to be cut off) and the
// number of corrupt records skipped in the middle.
func parseJournal(b []byte) (recs []record, valid int, corrupt int, err error) {
	if len(b) < recordSize {
		if len(b) == 0 || string(b) == journalMagic[:len(b)] {
			return nil, 0, 0, nil // torn header: start afresh
		}
		return nil, 0, 0, errNotJournal
	}
	if string(b[:recordSize]) != journalMagic {
		return nil, 0, 0, fmt.Errorf("%w: bad header", errNotJournal)
	}
	recs = make([]record, 0, (len(b)-recordSize)/recordSize)
	valid = recordSize
	bad := 0
	for off := recordSize; off+recordSize <= len(b); off += recordSize {
		r, ok := decodeRecord(b[off : off+recordSize])
		if !ok {
			bad++
			continue
		}
		corrupt += bad // bad records followed by good ones: rot, not a torn tail
		bad = 0
		recs = append(recs, r)
		valid = off + recordSize
	}
	return recs, valid, corrupt, nil
}
