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

// cabacDecoder is the arithmetic decoding engine of clause 9.3.3.2. It
// keeps the standard's 9-bit codIOffset register in the top bits of low,
// followed by k bits of the slice data read ahead, so that renormalisation
// is a shift and the bit position stays exact (I_PCM samples, end of slice).
type cabacDecoder struct {
	data    []byte
	next    int    // next byte of data to load
	pad     int    // zero bytes loaded past the end of data
	low     uint64 // codIOffset<<k | k bits read ahead
	k       uint
	rng     uint32
	overrun int         // bits of the register taken past the end of data
	ctx     [1024]uint8 // pStateIdx<<1 | valMPS
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
	c.pad, c.low, c.k, c.overrun = 0, 0, 0, 0
	for c.k < 9+32 {
		c.load()
	}
	c.k -= 9
	c.rng = 510
	c.checkOverrun()
	if c.overrun > 0 {
		return bits.ErrExhausted
	}
	if c.low>>c.k >= 510 {
		return errCABACOffset
	}
	return nil
}

func (c *cabacDecoder) load() {
	c.low <<= 8
	if c.next < len(c.data) {
		c.low |= uint64(c.data[c.next])
		c.next++
	} else {
		c.pad++
	}
	c.k += 8
}

// pos is the bit position in the slice data after the last bit taken
// into the codIOffset register.
func (c *cabacDecoder) pos() int { return (c.next+c.pad)*8 - int(c.k) }

func (c *cabacDecoder) checkOverrun() {
	if p := c.pos() - len(c.data)*8; p > 0 {
		c.overrun = p
	}
}

// refill keeps at least 8 bits read ahead (a renormalisation shifts by 7
// at most), and low below 2^56 so that decision's signed test holds.
func (c *cabacDecoder) refill() {
	for c.k <= 39 {
		c.load()
	}
	if c.pad > 0 {
		c.checkOverrun()
	}
}

// stateNext[s<<1|lps] is the context state byte after decoding a bin from
// state byte s (pStateIdx<<1 | valMPS); lps is 1 for the least probable symbol.
var stateNext = func() (t [256]uint8) {
	for s := 0; s < 128; s++ {
		p, mps := s>>1, s&1
		mp := p
		if p < 62 {
			mp = p + 1
		}
		t[s<<1] = uint8(mp<<1 | mps)
		if p == 0 {
			mps = 1 - mps
		}
		t[s<<1|1] = uint8(int(transIdxLPS[p])<<1 | mps)
	}
	return t
}()

// renormShift[r] is how far codIRange r (< 512) shifts left to reach 256.
var renormShift = func() (t [512]uint8) {
	for r := 1; r < 512; r++ {
		for v := r; v < 256; v <<= 1 {
			t[r]++
		}
	}
	return t
}()

// decision decodes one bin with context ctxIdx (9.3.3.2.1), without a
// branch on the decoded value.
func (c *cabacDecoder) decision(ctxIdx int) uint32 {
	s := c.ctx[ctxIdx]
	lps := uint32(rangeTabLPS[s>>1][(c.rng>>6)&3])
	rng := c.rng - lps
	scaled := uint64(rng) << c.k
	// all ones when codIOffset >= codIRange: the least probable symbol
	mask := ^uint64(int64(c.low-scaled) >> 63)
	c.low -= scaled & mask
	rng += (lps - rng) & uint32(mask)
	isLPS := uint32(mask & 1)
	c.ctx[ctxIdx] = stateNext[uint32(s)<<1|isLPS]
	n := uint(renormShift[rng])
	c.rng = rng << n
	c.k -= n
	if c.k < 8 {
		c.refill()
	}
	return uint32(s&1) ^ isLPS
}

func (c *cabacDecoder) bypass() uint32 {
	c.k--
	var bin uint32
	if scaled := uint64(c.rng) << c.k; c.low >= scaled {
		c.low -= scaled
		bin = 1
	}
	if c.k < 8 {
		c.refill()
	}
	return bin
}

func (c *cabacDecoder) terminate() uint32 {
	c.rng -= 2
	if c.low >= uint64(c.rng)<<c.k {
		return 1
	}
	if c.rng < 256 {
		n := uint(mbits.LeadingZeros32(c.rng) - 23)
		c.rng <<= n
		c.k -= n
		if c.k < 8 {
			c.refill()
		}
	}
	return 0
}
