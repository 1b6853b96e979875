// Package bits reads the bit fields of H.264 RBSP data: fixed-width
// fields and Exp-Golomb codes, most significant bit first.
//
// Reading past the end never panics: it returns zero bits and records
// ErrExhausted, which callers check once per syntax structure.
package bits

import "errors"

// ErrExhausted reports a read past the end of the data.
var ErrExhausted = errors.New("h264: read past the end of the data")

// ErrGolomb reports an Exp-Golomb code longer than 32 bits.
var ErrGolomb = errors.New("h264: Exp-Golomb code too long")

// Reader reads bits from a byte slice. The zero value reads nothing.
type Reader struct {
	buf  []byte
	pos  int // bit position
	n    int // length in bits
	err  error
	stop int // position of the rbsp_stop_one_bit, -1 if none, -2 if not yet found
}

// Reset makes r read b from its first bit.
func (r *Reader) Reset(b []byte) {
	r.buf = b
	r.pos = 0
	r.n = len(b) * 8
	r.err = nil
	r.stop = -2
}

// Err is the first error met, if any.
func (r *Reader) Err() error { return r.err }

// Pos is the number of bits read so far.
func (r *Reader) Pos() int { return r.pos }

// Len is the length of the data in bits.
func (r *Reader) Len() int { return r.n }

// Left is the number of bits not yet read (negative after exhaustion).
func (r *Reader) Left() int { return r.n - r.pos }

// Data is the byte slice being read.
func (r *Reader) Data() []byte { return r.buf }

// Fail records err unless an error is already recorded.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Peek32 returns the next 32 bits without consuming them, zero-padded
// past the end.
func (r *Reader) Peek32() uint32 {
	p := r.pos >> 3
	var v uint64
	if p+8 <= len(r.buf) {
		b := r.buf[p : p+8]
		v = uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	} else {
		for i := 0; i < 8; i++ {
			v <<= 8
			if p+i < len(r.buf) && p+i >= 0 {
				v |= uint64(r.buf[p+i])
			}
		}
	}
	return uint32(v << uint(r.pos&7) >> 32)
}

// SetPos moves the reader to bit position p (clamped to the data; moving
// past the end records ErrExhausted).
func (r *Reader) SetPos(p int) {
	switch {
	case p < 0:
		p = 0
	case p > r.n:
		p = r.n
		r.Fail(ErrExhausted)
	}
	r.pos = p
}

// Skip consumes n bits.
func (r *Reader) Skip(n int) {
	r.pos += n
	if r.pos > r.n {
		r.pos = r.n
		r.Fail(ErrExhausted)
	}
}

// U reads an n-bit unsigned field, 0 <= n <= 32.
func (r *Reader) U(n int) uint32 {
	if n == 0 {
		return 0
	}
	v := r.Peek32() >> uint(32-n)
	r.Skip(n)
	if r.err != nil && r.pos >= r.n {
		// Keep returning zeros once exhausted.
		if r.err == ErrExhausted {
			return v
		}
	}
	return v
}

// Flag reads one bit as a bool.
func (r *Reader) Flag() bool { return r.U1() != 0 }

// U1 reads one bit.
func (r *Reader) U1() uint32 {
	if r.pos >= r.n {
		r.Fail(ErrExhausted)
		return 0
	}
	v := uint32(r.buf[r.pos>>3]>>(7-uint(r.pos&7))) & 1
	r.pos++
	return v
}

// UE reads an unsigned Exp-Golomb code ue(v).
func (r *Reader) UE() uint32 {
	p := r.Peek32()
	if p == 0 {
		// 32 or more leading zeros: longer than any field we accept.
		if r.pos >= r.n {
			r.Fail(ErrExhausted)
		} else {
			r.Fail(ErrGolomb)
		}
		r.Skip(32)
		return 0
	}
	lz := 0
	for p&0x80000000 == 0 {
		p <<= 1
		lz++
	}
	if lz < 16 {
		// Whole code within the 32 peeked bits.
		v := (r.Peek32() >> uint(32-(2*lz+1))) - 1
		r.Skip(2*lz + 1)
		return v
	}
	r.Skip(lz + 1)
	v := r.U(lz)
	return (uint32(1)<<uint(lz) - 1) + v
}

// SE reads a signed Exp-Golomb code se(v).
func (r *Reader) SE() int32 {
	k := r.UE()
	if k&1 != 0 {
		return int32((k + 1) / 2)
	}
	return -int32(k / 2)
}

// TE reads a truncated Exp-Golomb code te(v) whose maximum is max.
func (r *Reader) TE(max uint32) uint32 {
	if max > 1 {
		return r.UE()
	}
	return 1 - r.U1()
}

// ByteAligned reports whether the next bit starts a byte.
func (r *Reader) ByteAligned() bool { return r.pos&7 == 0 }

// AlignByte skips to the start of the next byte.
func (r *Reader) AlignByte() {
	if r.pos&7 != 0 {
		r.Skip(8 - r.pos&7)
	}
}

// StopBit is the bit position of the rbsp_stop_one_bit (the last 1 bit of
// the data), or -1 when the data has no 1 bit.
func (r *Reader) StopBit() int {
	if r.stop != -2 {
		return r.stop
	}
	last := len(r.buf) - 1
	for last >= 0 && r.buf[last] == 0 {
		last--
	}
	if last < 0 {
		r.stop = -1
		return r.stop
	}
	b := r.buf[last]
	stop := last*8 + 7
	for b&1 == 0 {
		b >>= 1
		stop--
	}
	r.stop = stop
	return stop
}

// MoreRBSPData reports whether data remains before the rbsp_trailing_bits:
// the stop bit (the last 1 bit of the data) is not the next bit.
func (r *Reader) MoreRBSPData() bool {
	return r.pos < r.n && r.pos < r.StopBit()
}
