package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrMalformed is wrapped by every error about bytes that are not the
// fragmented MP4 this package writes.
var ErrMalformed = errors.New("fmp4: malformed")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// BoxHeader is a top-level box of a file.
type BoxHeader struct {
	Type       [4]byte
	Offset     int64 // of the header
	Size       int64 // header included
	HeaderSize int64
}

// ReadBoxHeader reads the box header at off. It fails with io.ErrUnexpectedEOF
// when the header or the box it announces extends past size.
func ReadBoxHeader(r io.ReaderAt, off, size int64) (BoxHeader, error) {
	var h BoxHeader
	var buf [16]byte
	if size-off < 8 {
		return h, io.ErrUnexpectedEOF
	}
	if _, err := r.ReadAt(buf[:8], off); err != nil {
		return h, fmt.Errorf("read box header at %d: %w", off, err)
	}
	h.Offset = off
	copy(h.Type[:], buf[4:8])
	h.Size = int64(binary.BigEndian.Uint32(buf[:4]))
	h.HeaderSize = 8
	switch h.Size {
	case 0: // to end of file
		h.Size = size - off
	case 1:
		if size-off < 16 {
			return h, io.ErrUnexpectedEOF
		}
		if _, err := r.ReadAt(buf[8:16], off+8); err != nil {
			return h, fmt.Errorf("read box header at %d: %w", off, err)
		}
		h.Size = int64(binary.BigEndian.Uint64(buf[8:16]))
		h.HeaderSize = 16
	}
	if h.Size < h.HeaderSize {
		return h, malformed("box %q at %d: size %d", h.Type[:], off, h.Size)
	}
	if h.Size > size-off {
		return h, io.ErrUnexpectedEOF
	}
	return h, nil
}

// SampleInfo is one sample of a parsed fragment.
type SampleInfo struct {
	Offset    int64 // in the file (or in the buffer given to ParseFragment)
	Size      uint32
	Duration  uint32
	PTSOffset int32
	Key       bool
}

// FragmentInfo is one complete moof+mdat.
type FragmentInfo struct {
	Offset   int64 // of the moof
	Size     int64 // moof + mdat
	Seq      uint32
	BaseTime uint64 // ticks
	Duration uint64 // ticks, sum of sample durations
	Samples  []SampleInfo
	// Audio are the audio track's samples (a second traf), if any; their
	// times are in the audio track's timescale from AudioBaseTime.
	Audio         []SampleInfo
	AudioBaseTime uint64
}

// End is the offset just past the fragment's mdat.
func (f FragmentInfo) End() int64 { return f.Offset + f.Size }

// Layout is what ScanSegment found in a segment file.
type Layout struct {
	// InitSize is the length of ftyp+moov at the start of the file.
	InitSize  int64
	Init      InitInfo
	Fragments []FragmentInfo
	// ValidSize is where the last complete fragment ends: everything after it
	// is a torn tail (or trailing garbage) that repair cuts off.
	ValidSize int64
	// TailErr says why scanning stopped before the end of the file (nil if
	// the file ends exactly after its last fragment).
	TailErr error
}

// Duration is the sum of the fragments' durations, in ticks.
func (l Layout) Duration() uint64 {
	var d uint64
	for _, f := range l.Fragments {
		d += f.Duration
	}
	return d
}

// maxMoofSize bounds what ScanSegment reads into memory for one moof.
const maxMoofSize = 4 << 20

// ScanSegment reads a segment file's top-level boxes: the init segment and
// then every complete fragment. A missing or broken init segment is an
// error; a torn or garbled fragment ends the scan (Layout.TailErr) and is not
// an error. It never panics on arbitrary input.
func ScanSegment(r io.ReaderAt, size int64) (Layout, error) {
	var l Layout
	off := int64(0)
	var sawMoov bool
	for !sawMoov {
		h, err := ReadBoxHeader(r, off, size)
		if err != nil {
			return l, fmt.Errorf("init segment: %w", err)
		}
		switch string(h.Type[:]) {
		case "ftyp", "free", "skip", "styp":
		case "moov":
			if h.Size > maxMoofSize {
				return l, malformed("moov of %d bytes", h.Size)
			}
			buf := make([]byte, h.Size-h.HeaderSize)
			if _, err := r.ReadAt(buf, off+h.HeaderSize); err != nil {
				return l, fmt.Errorf("read moov: %w", err)
			}
			info, err := parseMoov(buf)
			if err != nil {
				return l, err
			}
			l.Init = info
			sawMoov = true
		default:
			return l, malformed("box %q before moov", h.Type[:])
		}
		off += h.Size
	}
	l.InitSize = off
	l.ValidSize = off
	var moof []byte
	for off < size {
		h, err := ReadBoxHeader(r, off, size)
		if err != nil {
			l.TailErr = err
			break
		}
		if string(h.Type[:]) != "moof" {
			l.TailErr = malformed("box %q at %d where a moof belongs", h.Type[:], off)
			break
		}
		if h.Size > maxMoofSize {
			l.TailErr = malformed("moof of %d bytes", h.Size)
			break
		}
		moofEnd := off + h.Size
		mh, err := ReadBoxHeader(r, moofEnd, size)
		if err != nil {
			l.TailErr = err
			break
		}
		if string(mh.Type[:]) != "mdat" {
			l.TailErr = malformed("box %q after moof at %d", mh.Type[:], off)
			break
		}
		if cap(moof) < int(h.Size) {
			moof = make([]byte, h.Size)
		}
		moof = moof[:h.Size]
		if _, err := r.ReadAt(moof, off); err != nil {
			l.TailErr = err
			break
		}
		f, err := ParseMoof(moof, off)
		if err != nil {
			l.TailErr = err
			break
		}
		f.Size = h.Size + mh.Size
		dataStart, dataEnd := moofEnd+mh.HeaderSize, moofEnd+mh.Size
		ok := true
		for _, s := range append(f.Samples, f.Audio...) {
			if s.Offset < dataStart || s.Offset+int64(s.Size) > dataEnd {
				ok = false
				break
			}
		}
		if !ok {
			l.TailErr = malformed("fragment at %d: samples outside its mdat", off)
			break
		}
		l.Fragments = append(l.Fragments, f)
		off += f.Size
		l.ValidSize = off
	}
	return l, nil
}

// ParseMoof parses one moof box (header included) of a fragment whose
// first byte is at fileOffset: the video track's traf (the first) and, if
// there is a second, the audio track's. Sample offsets are resolved against
// fileOffset (default-base-is-moof, or explicit base data offset).
func ParseMoof(b []byte, fileOffset int64) (FragmentInfo, error) {
	f := FragmentInfo{Offset: fileOffset}
	body, err := boxBody(b, "moof")
	if err != nil {
		return f, err
	}
	var sawTraf, sawAudio bool
	err = eachBox(body, func(typ string, p []byte) error {
		switch typ {
		case "mfhd":
			if len(p) < 8 {
				return malformed("short mfhd")
			}
			f.Seq = binary.BigEndian.Uint32(p[4:])
		case "traf":
			if !sawTraf {
				sawTraf = true
				return parseTraf(p, fileOffset, &f)
			}
			if sawAudio {
				return malformed("more than two trafs")
			}
			sawAudio = true
			var a FragmentInfo
			if err := parseTraf(p, fileOffset, &a); err != nil {
				return err
			}
			f.Audio, f.AudioBaseTime = a.Samples, a.BaseTime
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	if !sawTraf {
		return f, malformed("moof without traf")
	}
	return f, nil
}

func parseTraf(b []byte, moofOffset int64, f *FragmentInfo) error {
	base := moofOffset
	var defDur, defSize, defFlags uint32
	var sawTfhd bool
	next := int64(-1) // where the next trun's data starts when it has no data offset
	return eachBox(b, func(typ string, p []byte) error {
		switch typ {
		case "tfhd":
			if len(p) < 8 {
				return malformed("short tfhd")
			}
			sawTfhd = true
			flags := binary.BigEndian.Uint32(p) & 0xffffff
			q := p[8:]
			take := func() (uint32, error) {
				if len(q) < 4 {
					return 0, malformed("short tfhd")
				}
				v := binary.BigEndian.Uint32(q)
				q = q[4:]
				return v, nil
			}
			if flags&1 != 0 {
				if len(q) < 8 {
					return malformed("short tfhd")
				}
				base = int64(binary.BigEndian.Uint64(q))
				if base < 0 {
					return malformed("tfhd base offset")
				}
				q = q[8:]
			}
			var err error
			if flags&2 != 0 {
				if _, err = take(); err != nil {
					return err
				}
			}
			if flags&8 != 0 {
				if defDur, err = take(); err != nil {
					return err
				}
			}
			if flags&0x10 != 0 {
				if defSize, err = take(); err != nil {
					return err
				}
			}
			if flags&0x20 != 0 {
				if defFlags, err = take(); err != nil {
					return err
				}
			}
		case "tfdt":
			if len(p) < 8 {
				return malformed("short tfdt")
			}
			if p[0] == 1 {
				if len(p) < 12 {
					return malformed("short tfdt")
				}
				f.BaseTime = binary.BigEndian.Uint64(p[4:])
			} else {
				f.BaseTime = uint64(binary.BigEndian.Uint32(p[4:]))
			}
		case "trun":
			if !sawTfhd {
				return malformed("trun before tfhd")
			}
			if len(p) < 8 {
				return malformed("short trun")
			}
			version := p[0]
			flags := binary.BigEndian.Uint32(p) & 0xffffff
			count := binary.BigEndian.Uint32(p[4:])
			q := p[8:]
			off := next
			if flags&1 != 0 {
				if len(q) < 4 {
					return malformed("short trun")
				}
				off = base + int64(int32(binary.BigEndian.Uint32(q)))
				q = q[4:]
			}
			if off < 0 {
				off = base
			}
			firstFlags := defFlags
			if flags&4 != 0 {
				if len(q) < 4 {
					return malformed("short trun")
				}
				firstFlags = binary.BigEndian.Uint32(q)
				q = q[4:]
			}
			per := 0
			for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
				if flags&bit != 0 {
					per += 4
				}
			}
			if per > 0 && uint64(count)*uint64(per) > uint64(len(q)) {
				return malformed("trun: %d samples do not fit", count)
			}
			if per == 0 && count > 1<<20 {
				return malformed("trun: %d samples", count)
			}
			for i := uint32(0); i < count; i++ {
				s := SampleInfo{Offset: off, Duration: defDur, Size: defSize}
				sf := defFlags
				if i == 0 && flags&4 != 0 {
					sf = firstFlags
				}
				if flags&0x100 != 0 {
					s.Duration = binary.BigEndian.Uint32(q)
					q = q[4:]
				}
				if flags&0x200 != 0 {
					s.Size = binary.BigEndian.Uint32(q)
					q = q[4:]
				}
				if flags&0x400 != 0 {
					sf = binary.BigEndian.Uint32(q)
					q = q[4:]
				}
				if flags&0x800 != 0 {
					v := binary.BigEndian.Uint32(q)
					if version == 0 {
						s.PTSOffset = int32(min(v, 1<<31-1))
					} else {
						s.PTSOffset = int32(v)
					}
					q = q[4:]
				}
				s.Key = sf&0x00010000 == 0 && (sf>>24)&3 != 1
				off += int64(s.Size)
				f.Duration += uint64(s.Duration)
				f.Samples = append(f.Samples, s)
			}
			next = off
		}
		return nil
	})
}

// InitInfo is what ParseInit reads from an init segment.
type InitInfo struct {
	Timescale     uint32
	SampleEntry   string // "avc1", "hvc1", ...
	Width, Height int
	// Config is the body of the avcC or hvcC box.
	Config []byte
	// Audio is the audio track, nil without one.
	Audio *AudioInfo
}

// AudioInfo is what ParseInit reads of an audio track.
type AudioInfo struct {
	ID          uint32
	Timescale   uint32 // the sample rate
	SampleEntry string // "mp4a", "sowt"
	Channels    int
}

// ParseInit parses ftyp+moov as written by InitSegment.
func ParseInit(b []byte) (InitInfo, error) {
	var info InitInfo
	var sawMoov bool
	err := eachBox(b, func(typ string, p []byte) error {
		if typ != "moov" {
			return nil
		}
		var err error
		info, err = parseMoov(p)
		sawMoov = true
		return err
	})
	if err == nil && !sawMoov {
		err = malformed("no moov")
	}
	return info, err
}

func parseMoov(b []byte) (InitInfo, error) {
	var info InitInfo
	var tracks int
	err := eachBox(b, func(typ string, p []byte) error {
		if typ != "trak" {
			return nil
		}
		tracks++
		if tracks > 2 {
			return malformed("more than two tracks")
		}
		tr, err := parseTrak(p)
		if err != nil {
			return err
		}
		if tracks == 1 {
			info = tr.info
			return nil
		}
		if tr.handler != "soun" {
			return malformed("second track is not sound")
		}
		info.Audio = &AudioInfo{ID: tr.id, Timescale: tr.info.Timescale, SampleEntry: tr.info.SampleEntry, Channels: tr.channels}
		return nil
	})
	if err != nil {
		return info, err
	}
	if info.Timescale == 0 || info.SampleEntry == "" {
		return info, malformed("moov without a video track")
	}
	return info, nil
}

// track is what parseTrak reads of a trak box.
type track struct {
	info     InitInfo
	id       uint32 // from tkhd; 0 when it has none
	stbl     []byte // the sample table box's body
	handler  string // hdlr's handler type: "vide", "soun", ...
	channels int    // of an audio sample entry
}

// parseTrak reads a track's id, timescale, first sample entry and sample
// table.
func parseTrak(b []byte) (track, error) {
	var tr track
	info := &tr.info
	err := eachBox(b, func(typ string, p []byte) error {
		if typ == "tkhd" {
			switch {
			case len(p) >= 24 && p[0] == 1:
				tr.id = binary.BigEndian.Uint32(p[20:])
			case len(p) >= 16 && p[0] == 0:
				tr.id = binary.BigEndian.Uint32(p[12:])
			default:
				return malformed("short tkhd")
			}
		}
		if typ != "mdia" {
			return nil
		}
		return eachBox(p, func(typ string, p []byte) error {
			switch typ {
			case "hdlr":
				if len(p) >= 12 {
					tr.handler = string(p[8:12])
				}
			case "mdhd":
				if len(p) < 4 {
					return malformed("short mdhd")
				}
				if p[0] == 1 {
					if len(p) < 24 {
						return malformed("short mdhd")
					}
					info.Timescale = binary.BigEndian.Uint32(p[20:])
				} else {
					if len(p) < 16 {
						return malformed("short mdhd")
					}
					info.Timescale = binary.BigEndian.Uint32(p[12:])
				}
			case "minf":
				return walk(p, []string{"stbl"}, func(stbl []byte) error {
					tr.stbl = stbl
					return walk(stbl, []string{"stsd"}, func(stsd []byte) error {
						if len(stsd) < 8 {
							return malformed("short stsd")
						}
						return eachBox(stsd[8:], func(typ string, e []byte) error {
							if info.SampleEntry != "" {
								return nil
							}
							info.SampleEntry = typ
							if tr.handler == "soun" {
								if len(e) < 28 {
									return malformed("short audio sample entry")
								}
								tr.channels = int(binary.BigEndian.Uint16(e[16:]))
								return nil
							}
							if len(e) < 78 {
								return malformed("short sample entry")
							}
							info.Width = int(binary.BigEndian.Uint16(e[24:]))
							info.Height = int(binary.BigEndian.Uint16(e[26:]))
							return eachBox(e[78:], func(typ string, c []byte) error {
								if typ == "avcC" || typ == "hvcC" {
									info.Config = c
								}
								return nil
							})
						})
					})
				})
			}
			return nil
		})
	})
	return tr, err
}

// walk descends through the named child boxes (first of each) and calls fn
// with the body of the last.
func walk(b []byte, path []string, fn func([]byte) error) error {
	if len(path) == 0 {
		return fn(b)
	}
	found := false
	err := eachBox(b, func(typ string, p []byte) error {
		if found || typ != path[0] {
			return nil
		}
		found = true
		return walk(p, path[1:], fn)
	})
	if err == nil && !found {
		return malformed("no %s box", path[0])
	}
	return err
}

// boxBody checks that b is exactly one box of type typ and returns its body.
func boxBody(b []byte, typ string) ([]byte, error) {
	if len(b) < 8 {
		return nil, malformed("short %s", typ)
	}
	size := binary.BigEndian.Uint32(b)
	if string(b[4:8]) != typ || int64(size) != int64(len(b)) {
		return nil, malformed("not a %s box", typ)
	}
	return b[8:], nil
}

// eachBox calls fn for every box in b with its type and body.
func eachBox(b []byte, fn func(typ string, body []byte) error) error {
	return eachBoxAt(b, func(typ string, _ int, box, body []byte) error { return fn(typ, body) })
}

// eachBoxAt calls fn for every box in b with its type, its offset in b, the
// whole box (header included) and its body.
func eachBoxAt(b []byte, fn func(typ string, off int, box, body []byte) error) error {
	off := 0
	for len(b) > 0 {
		if len(b) < 8 {
			return malformed("truncated box header")
		}
		size := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hdr := uint64(8)
		if size == 1 {
			if len(b) < 16 {
				return malformed("truncated box header")
			}
			size = binary.BigEndian.Uint64(b[8:])
			hdr = 16
		} else if size == 0 {
			size = uint64(len(b))
		}
		if size < hdr || size > uint64(len(b)) {
			return malformed("box %q: size %d of %d", typ, size, len(b))
		}
		if err := fn(typ, off, b[:size], b[hdr:size]); err != nil {
			return err
		}
		b = b[size:]
		off += int(size)
	}
	return nil
}
