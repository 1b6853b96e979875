package mb

import (
	"errors"
	mbits "math/bits"

	"github.com/matthan/matthan/daemon/h264/bits"
)

// transIdxLPS is the state transition after a least probable symbol (Table 9-45).
var transIdxLPS = [64]uint8{
	0, 0, 1, 2, 2, 4, 4, 5, 6, 7, 8, 9, 9, 11, 11, 12,
	13, 13, 15, 15, 16, 16, 18, 18, 19, 19, 21, 21, 22, 22, 23, 24,
	24, 25, 26, 26, 27, 27, 28, 29, 29, 30, 30, 30, 31, 32, 32, 33,
	33, 33, 34, 34, 35, 35, 35, 36, 36, 36, 37, 37, 37, 38, 38, 63,
}

var errCABACOffset = errors.New("cabac: codIOffset 510 or 511 at initialisation")

// cabacDecoder is the arithmetic decoding engine of clause 9.3.3.2, with
// the 9-bit codIOffset register of the standard so that the bit position
// is exact at I_PCM samples and at the end of the slice. It reads the slice
// data through a 64-bit cache of its own.
type cabacDecoder struct {
	data     []byte
	next     int    // next byte of data to load
	cache    uint64 // unread bits, left-aligned
	nbits    uint   // valid bits in cache
	overrun  int    // bits read past the end of data
	rng, off uint32
	ctx      [1024]uint8 // pStateIdx<<1 | valMPS
}

// initContexts sets every context variable for a slice (9.3.1.1). table is
// 0 for I slices, 1+cabac_init_idc otherwise.
func (c *cabacDecoder) initContexts(table, qp int) {
	mn := &cabacInitMN[table]
	if qp < 0 {
		qp = 0
	} else if qp > 51 {
		qp = 51
	}
	for i := range c.ctx {
		m, n := int(mn[i][0]), int(mn[i][1])
		pre := ((m * qp) >> 4) + n
		if pre < 1 {
			pre = 1
		} else if pre > 126 {
			pre = 126
		}
		if pre <= 63 {
			c.ctx[i] = uint8(63-pre) << 1
		} else {
			c.ctx[i] = uint8(pre-64)<<1 | 1
		}
	}
}

// initEngine starts arithmetic decoding at the reader's position, which
// must be byte-aligned.
func (c *cabacDecoder) initEngine(r *bits.Reader) error {
	c.data = r.Data()
	c.next = r.Pos() >> 3
	c.cache, c.nbits, c.overrun = 0, 0, 0
	c.rng = 510
	c.off = c.read(9)
	if c.overrun > 0 {
		return bits.ErrExhausted
	}
	if c.off >= 510 {
		return errCABACOffset
	}
	return nil
}

// pos is the bit position in the slice data after the last bit read.
func (c *cabacDecoder) pos() int { return c.next*8 - int(c.nbits) + c.overrun }

func (c *cabacDecoder) refill() {
	for c.nbits <= 56 && c.next < len(c.data) {
		c.cache |= uint64(c.data[c.next]) << (56 - c.nbits)
		c.nbits += 8
		c.next++
	}
}

// read takes n <= 32 bits; past the end of the data it reads zeros and
// counts them in overrun.
func (c *cabacDecoder) read(n uint) uint32 {
	if c.nbits < n {
		c.refill()
		if c.nbits < n {
			c.overrun += int(n - c.nbits)
			c.nbits = n
		}
	}
	v := uint32(c.cache >> (64 - n))
	c.cache <<= n
	c.nbits -= n
	return v
}

func (c *cabacDecoder) decision(ctxIdx int) uint32 {
	s := c.ctx[ctxIdx]
	p := s >> 1
	mps := uint32(s & 1)
	lps := uint32(rangeTabLPS[p][(c.rng>>6)&3])
	c.rng -= lps
	var bin uint32
	if c.off >= c.rng {
		bin = 1 - mps
		c.off -= c.rng
		c.rng = lps
		if p == 0 {
			mps = 1 - mps
		}
		c.ctx[ctxIdx] = transIdxLPS[p]<<1 | uint8(mps)
	} else {
		bin = mps
		if p < 62 {
			p++
		}
		c.ctx[ctxIdx] = p<<1 | uint8(mps)
	}
	if c.rng < 256 {
		n := uint(mbits.LeadingZeros32(c.rng) - 23)
		c.rng <<= n
		c.off = c.off<<n | c.read(n)
	}
	return bin
}

func (c *cabacDecoder) bypass() uint32 {
	c.off = c.off<<1 | c.read(1)
	if c.off >= c.rng {
		c.off -= c.rng
		return 1
	}
	return 0
}

func (c *cabacDecoder) terminate() uint32 {
	c.rng -= 2
	if c.off >= c.rng {
		return 1
	}
	if c.rng < 256 {
		n := uint(mbits.LeadingZeros32(c.rng) - 23)
		c.rng <<= n
		c.off = c.off<<n | c.read(n)
	}
	return 0
}
