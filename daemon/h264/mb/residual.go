package mb

import (
	mbits "math/bits"

	"github.com/matthan/matthan/daemon/h264/bits"
)

// residualBlockCAVLC parses residual_block_cavlc() and returns TotalCoeff.
// nC is -1 for chroma DC.
func (d *sliceDecoder) residualBlockCAVLC(nC, maxCoeff int) (int, error) {
	r := d.r
	t := 0
	switch {
	case nC < 0:
		t = 4
	case nC < 2:
		t = 0
	case nC < 4:
		t = 1
	case nC < 8:
		t = 2
	default:
		t = 3
	}
	tc, t1, ok := coeffTokenVLC[t].read(r)
	if !ok {
		return 0, d.fail("invalid coeff_token")
	}
	if tc > maxCoeff {
		return 0, d.fail("TotalCoeff %d above %d", tc, maxCoeff)
	}
	if tc == 0 {
		return 0, nil
	}
	suffixLength := 0
	if tc > 10 && t1 < 3 {
		suffixLength = 1
	}
	if t1 > 0 {
		r.Skip(t1) // trailing_ones_sign_flag
	}
	for i := t1; i < tc; i++ {
		p := r.Peek32()
		if p == 0 {
			return 0, d.fail("level_prefix too long")
		}
		lp := mbits.LeadingZeros32(p)
		r.Skip(lp + 1)
		levelCode := min(15, lp) << uint(suffixLength)
		if suffixLength > 0 || lp >= 14 {
			size := suffixLength
			if lp == 14 && suffixLength == 0 {
				size = 4
			}
			if lp >= 15 {
				size = lp - 3
			}
			if size > 0 {
				levelCode += int(r.U(size))
			}
		}
		if lp >= 15 && suffixLength == 0 {
			levelCode += 15
		}
		if lp >= 16 {
			levelCode += (1 << uint(lp-3)) - 4096
		}
		if i == t1 && t1 < 3 {
			levelCode += 2
		}
		abs := (levelCode + 2) >> 1
		if suffixLength == 0 {
			suffixLength = 1
		}
		if abs > 3<<uint(suffixLength-1) && suffixLength < 6 {
			suffixLength++
		}
	}
	zerosLeft := 0
	if tc < maxCoeff {
		var tz int
		if maxCoeff == 4 {
			tz, _, ok = totalZerosDC[tc-1].read(r)
		} else {
			tz, _, ok = totalZerosVLC[tc-1].read(r)
		}
		if !ok || tz > maxCoeff-tc {
			return 0, d.fail("invalid total_zeros")
		}
		zerosLeft = tz
	}
	for i := 0; i < tc-1 && zerosLeft > 0; i++ {
		rb, _, ok := runBeforeVLC[min(zerosLeft, 7)-1].read(r)
		if !ok || rb > zerosLeft {
			return 0, d.fail("invalid run_before")
		}
		zerosLeft -= rb
	}
	if r.Err() != nil {
		return 0, d.fail("%v", r.Err())
	}
	d.coefs += tc
	return tc, nil
}

// CABAC context offsets per ctxBlockCat (frame coded macroblocks).
var (
	cbfCatOffset  = [5]int{0, 4, 8, 12, 16}
	sigCatOffset  = [6]int{105 + 0, 105 + 15, 105 + 29, 105 + 44, 105 + 47, 402}
	lastCatOffset = [6]int{166 + 0, 166 + 15, 166 + 29, 166 + 44, 166 + 47, 417}
	absCatOffset  = [6]int{227 + 0, 227 + 10, 227 + 20, 227 + 30, 227 + 39, 426}
)

// cbfCond is condTermFlagN of coded_block_flag for a neighbour block that
// is bit `bit` of m.cbf.
func (d *sliceDecoder) cbfCond(m *mbState, bit int) int {
	if m == nil {
		return b2i(d.cur.intra())
	}
	return int(m.cbf>>uint(bit)) & 1
}

func (d *sliceDecoder) lumaBlockCABAC(pos, cat, maxCoeff int) error {
	var a, b, bit int
	if pos < 0 { // Intra16x16 DC
		bit = 24
		a = d.cbfCond(d.left, 24)
		b = d.cbfCond(d.top, 24)
	} else {
		bit = pos
		x, y := pos&3, pos>>2
		mA, iA := d.nb4(x-1, y)
		mB, iB := d.nb4(x, y-1)
		a = d.cbfCond(mA, iA)
		b = d.cbfCond(mB, iB)
	}
	if d.cabac.decision(85+cbfCatOffset[cat]+a+2*b) == 0 {
		return nil
	}
	d.cur.cbf |= 1 << uint(bit)
	return d.residualCABAC(cat, maxCoeff)
}

func (d *sliceDecoder) chromaDCCABAC(c int) error {
	a := d.cbfCond(d.left, 25+c)
	b := d.cbfCond(d.top, 25+c)
	if d.cabac.decision(85+cbfCatOffset[3]+a+2*b) == 0 {
		return nil
	}
	d.cur.cbf |= 1 << uint(25+c)
	return d.residualCABAC(3, 4)
}

func (d *sliceDecoder) chromaACCABAC(c, blk int) error {
	x, y := blk&1, blk>>1
	mA, iA := d.nbChroma(x-1, y)
	mB, iB := d.nbChroma(x, y-1)
	a := d.cbfCond(mA, 16+c*4+iA)
	b := d.cbfCond(mB, 16+c*4+iB)
	if d.cabac.decision(85+cbfCatOffset[4]+a+2*b) == 0 {
		return nil
	}
	d.cur.cbf |= 1 << uint(16+c*4+blk)
	return d.residualCABAC(4, 15)
}

func (d *sliceDecoder) luma8x8CABAC(i8 int) error {
	p := int(blkRaster[i8*4])
	d.cur.cbf |= (1<<0 | 1<<1 | 1<<4 | 1<<5) << uint(p)
	return d.residualCABAC(5, 64)
}

// residualCABAC parses the significance map and levels of one block whose
// coded_block_flag is 1.
func (d *sliceDecoder) residualCABAC(cat, maxCoeff int) error {
	c := &d.cabac
	sig, last, abs := sigCatOffset[cat], lastCatOffset[cat], absCatOffset[cat]
	count := 0
	i := 0
	ended := false
	for ; i < maxCoeff-1; i++ {
		si, li := i, i
		switch cat {
		case 3:
			si = min(i, 2)
			li = si
		case 5:
			si = int(sigCoeffOffset8x8[0][i])
			li = int(lastCoeffOffset8x8[i])
		}
		if c.decision(sig+si) == 1 {
			count++
			if c.decision(last+li) == 1 {
				ended = true
				break
			}
		}
	}
	if !ended {
		count++
	}
	d.coefs += count
	gt1, eq1 := 0, 0
	gtMax := 4
	if cat == 3 {
		gtMax = 3
	}
	for k := 0; k < count; k++ {
		inc := 0
		if gt1 == 0 {
			inc = min(4, 1+eq1)
		}
		if c.decision(abs+inc) == 0 {
			eq1++
		} else {
			ctx := abs + 5 + min(gtMax, gt1)
			prefix := 1
			for prefix < 14 && c.decision(ctx) == 1 {
				prefix++
			}
			if prefix >= 14 {
				n := 0
				for c.bypass() == 1 {
					n++
					if n > 30 {
						return d.fail("coeff_abs_level_minus1 suffix too long")
					}
				}
				for ; n > 0; n-- {
					c.bypass()
				}
			}
			gt1++
		}
		c.bypass() // coeff_sign_flag
	}
	if c.overrun > 0 {
		return d.fail("%v", bits.ErrExhausted)
	}
	return nil
}
