package ingest

import (
	"errors"
	"fmt"

	"github.com/matthan/matthan/daemon/media"
)

// Errors of the depacketizer. Each one makes the current access unit be
// dropped; the pipeline then waits for the next key frame.
var (
	errShortPacket   = errors.New("RTP payload too short")
	errForbiddenBit  = errors.New("NAL unit with forbidden bit set")
	errUnsupported   = errors.New("unsupported RTP packetization (STAP-B, MTAP, FU-B or PACI)")
	errBadAggregate  = errors.New("malformed aggregation packet")
	errBadFragment   = errors.New("fragment without its start, or start inside a fragment")
	errPacketLoss    = errors.New("RTP sequence gap: packets lost")
	errAUTooLarge    = errors.New("access unit larger than the limit")
	errTooManyNALUs  = errors.New("access unit with too many NAL units")
	errMissingMarker = errors.New("timestamp changed before the marker bit")
)

const (
	maxAUBytes = 8 << 20 // a 4K key frame fits easily
	maxNALUs   = 512
)

// assembler turns RTP packets of one H.264 (RFC 6184) or H.265 (RFC 7798)
// stream into access units: the NAL units that share one timestamp, ended by
// the marker bit. It keeps a small buffer of its own for the usual picture
// and borrows a large one from bigAUs for a unit that outgrows it (a key
// frame), given back when the unit is emitted: the cameras' key frames come
// at different times, so a few large buffers serve them all instead of one
// kept per stream (64 cameras: 10 MB). The steady state allocates nothing.
type assembler struct {
	h265 bool

	small []byte   // the assembler's own buffer
	big   *[]byte  // borrowed from bigAUs while the unit outgrows small
	buf   []byte   // NAL units of the current access unit, back to back (in small or *big)
	spans [][2]int // start, end of each NAL unit in buf
	nalus [][]byte // handed out by emit; points into buf

	ts      uint32
	pending bool // buf holds NAL units of timestamp ts
	inFU    bool // the last NAL unit in spans is a fragment still being built
	broken  bool // drop everything until the timestamp changes or the marker

	seq      uint16
	seqValid bool
}

func newAssembler(codec media.Codec) *assembler {
	small := make([]byte, 0, smallAU)
	return &assembler{h265: codec == media.H265, small: small, buf: small}
}

// smallAU is an assembler's own buffer: a 720p 4 Mbit/s P picture is about
// 20 KB, a 360p sub stream's 3 KB.
const smallAU = 32 << 10

// bigAUs are the large buffers assemblers borrow: a free list of a few
// (not a sync.Pool, which the collector empties, and matthand collects
// often), each at most maxPooledAU (a larger one is not kept).
var bigAUs = make(chan *[]byte, 8)

const maxPooledAU = 2 << 20

// room makes buf hold n bytes more, moving the unit into a borrowed large
// buffer when it outgrows the one it is in.
func (a *assembler) room(n int) {
	need := len(a.buf) + n
	if need <= cap(a.buf) {
		return
	}
	if a.big == nil {
		select {
		case a.big = <-bigAUs:
		default:
			a.big = new([]byte)
		}
		if need <= cap(*a.big) {
			a.buf = append((*a.big)[:0], a.buf...)
			return
		}
	}
	nb := make([]byte, len(a.buf), max(need+need/4, 2*cap(a.buf)))
	copy(nb, a.buf)
	a.buf, *a.big = nb, nb
}

// push adds one packet. When it completes an access unit, emit is called
// with its timestamp and NAL units (valid only during the call). A non-nil
// error means something was dropped; the assembler has already recovered.
func (a *assembler) push(seq uint16, ts uint32, marker bool, payload []byte, emit func(ts uint32, nalus [][]byte)) error {
	var err error
	if a.seqValid && seq != a.seq+1 {
		err = errPacketLoss
		a.reset()
		a.broken = true
	}
	a.seq, a.seqValid = seq, true

	if a.pending && ts != a.ts {
		// The marker of the previous unit was lost: its end is uncertain.
		a.reset()
		if err == nil {
			err = errMissingMarker
		}
	}
	if a.broken && ts != a.ts {
		a.broken = false
	}
	a.ts = ts

	if !a.broken {
		if perr := a.add(payload); perr != nil {
			a.reset()
			a.broken = true
			if err == nil {
				err = perr
			}
		}
	}

	if marker {
		if !a.broken && a.pending && !a.inFU {
			a.nalus = a.nalus[:0]
			for _, s := range a.spans {
				a.nalus = append(a.nalus, a.buf[s[0]:s[1]:s[1]])
			}
			emit(ts, a.nalus)
		} else if !a.broken && a.inFU && err == nil {
			err = errBadFragment
		}
		a.reset()
		a.broken = false
	}
	return err
}

func (a *assembler) reset() {
	if a.big != nil {
		*a.big = a.buf[:0]
		if cap(a.buf) <= maxPooledAU {
			select {
			case bigAUs <- a.big:
			default:
			}
		}
		a.big = nil
	}
	a.buf = a.small[:0]
	a.spans = a.spans[:0]
	a.pending = false
	a.inFU = false
}

func (a *assembler) add(p []byte) error {
	if a.h265 {
		return a.addH265(p)
	}
	return a.addH264(p)
}

func (a *assembler) addH264(p []byte) error {
	if len(p) < 1 {
		return errShortPacket
	}
	if p[0]&0x80 != 0 {
		return errForbiddenBit
	}
	switch typ := p[0] & 0x1f; {
	case typ >= 1 && typ <= 23:
		if a.inFU {
			return errBadFragment
		}
		return a.appendNALU(p)
	case typ == 24: // STAP-A
		if a.inFU {
			return errBadFragment
		}
		return a.appendAggregate(p[1:], 1)
	case typ == 28: // FU-A
		if len(p) < 3 {
			return errShortPacket
		}
		start, end := p[1]&0x80 != 0, p[1]&0x40 != 0
		return a.appendFragment(start, end, []byte{p[0]&0xe0 | p[1]&0x1f}, p[2:])
	default:
		return errUnsupported
	}
}

func (a *assembler) addH265(p []byte) error {
	if len(p) < 2 {
		return errShortPacket
	}
	if p[0]&0x80 != 0 {
		return errForbiddenBit
	}
	switch typ := (p[0] >> 1) & 0x3f; {
	case typ < 48:
		if a.inFU {
			return errBadFragment
		}
		return a.appendNALU(p)
	case typ == 48: // aggregation packet
		if a.inFU {
			return errBadFragment
		}
		return a.appendAggregate(p[2:], 2)
	case typ == 49: // fragmentation unit
		if len(p) < 4 {
			return errShortPacket
		}
		start, end := p[2]&0x80 != 0, p[2]&0x40 != 0
		hdr := []byte{p[0]&0x81 | (p[2]&0x3f)<<1, p[1]}
		return a.appendFragment(start, end, hdr, p[3:])
	default:
		return errUnsupported
	}
}

func (a *assembler) appendNALU(n []byte) error {
	if len(a.spans) >= maxNALUs {
		return errTooManyNALUs
	}
	if len(a.buf)+len(n) > maxAUBytes {
		return errAUTooLarge
	}
	start := len(a.buf)
	a.room(len(n))
	a.buf = append(a.buf, n...)
	a.spans = append(a.spans, [2]int{start, len(a.buf)})
	a.pending = true
	return nil
}

func (a *assembler) appendAggregate(p []byte, hdrLen int) error {
	if len(p) == 0 {
		return errBadAggregate
	}
	for len(p) > 0 {
		if len(p) < 2 {
			return errBadAggregate
		}
		n := int(p[0])<<8 | int(p[1])
		p = p[2:]
		if n < hdrLen || n > len(p) {
			return fmt.Errorf("%w: unit of %d bytes, %d left", errBadAggregate, n, len(p))
		}
		if p[0]&0x80 != 0 {
			return errForbiddenBit
		}
		if err := a.appendNALU(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (a *assembler) appendFragment(start, end bool, hdr, body []byte) error {
	switch {
	case start && a.inFU:
		return errBadFragment
	case start:
		if end {
			return errBadFragment // a fragment must not be the whole unit
		}
		if err := a.appendNALU(hdr); err != nil {
			return err
		}
		a.inFU = true
	case !a.inFU:
		return errBadFragment
	}
	if len(a.buf)+len(body) > maxAUBytes {
		return errAUTooLarge
	}
	a.room(len(body))
	a.buf = append(a.buf, body...)
	a.spans[len(a.spans)-1][1] = len(a.buf)
	if end {
		a.inFU = false
	}
	return nil
}
