package mb

// Motion vector prediction (8.4.1.3) and the motion of skipped and
// direct-predicted macroblocks. Vectors are outputs only: the parse never
// depends on them.

// nbMotion is the motion of the 4x4 block at (x, y) relative to the current
// macroblock for list, as a neighbour of the partition starting at the
// block with luma4x4BlkIdx curBlk.
func (d *sliceDecoder) nbMotion(list, x, y, curBlk int) (avail bool, ref int, mv [2]int16) {
	var m *mbState
	var idx int
	if x >= 0 && x < 4 && y >= 0 && y < 4 {
		idx = y*4 + x
		if int(rasterBlk[idx]) >= curBlk {
			return false, -1, mv
		}
		m = d.cur
	} else {
		m, idx = d.nb4(x, y)
		if m == nil {
			return false, -1, mv
		}
	}
	if m.intra() {
		return true, -1, mv
	}
	r := int(m.ref[list][(idx>>3)<<1|(idx&3)>>1])
	if r < 0 {
		return true, -1, mv
	}
	return true, r, m.mv[list][idx]
}

func median3(a, b, c int16) int16 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	if a > b {
		return a
	}
	return b
}

// predictMV returns mvpLX for the partition at (x, y), width w (4x4 blocks).
func (d *sliceDecoder) predictMV(list, ref, x, y, w, shape, part int) [2]int16 {
	cur := int(rasterBlk[y*4+x])
	aA, rA, mA := d.nbMotion(list, x-1, y, cur)
	aB, rB, mB := d.nbMotion(list, x, y-1, cur)
	aC, rC, mC := d.nbMotion(list, x+w, y-1, cur)
	if !aC {
		aC, rC, mC = d.nbMotion(list, x-1, y-1, cur)
	}
	switch shape {
	case shape16x8:
		if part == 0 && rB == ref {
			return mB
		}
		if part == 1 && rA == ref {
			return mA
		}
	case shape8x16:
		if part == 0 && rA == ref {
			return mA
		}
		if part == 1 && rC == ref {
			return mC
		}
	}
	if !aB && !aC && aA {
		mB, mC, rB, rC = mA, mA, rA, rA
	}
	n := b2i(rA == ref) + b2i(rB == ref) + b2i(rC == ref)
	if n == 1 {
		switch {
		case rA == ref:
			return mA
		case rB == ref:
			return mB
		default:
			return mC
		}
	}
	return [2]int16{median3(mA[0], mB[0], mC[0]), median3(mA[1], mB[1], mC[1])}
}

// pSkipMV is the motion vector of a P_Skip macroblock (8.4.1.1).
func (d *sliceDecoder) pSkipMV() [2]int16 {
	aA, rA, mA := d.nbMotion(0, -1, 0, 0)
	aB, rB, mB := d.nbMotion(0, 0, -1, 0)
	if !aA || !aB || (rA == 0 && mA == [2]int16{}) || (rB == 0 && mB == [2]int16{}) {
		return [2]int16{}
	}
	return d.predictMV(0, 0, 0, 0, 4, shape16x16, 0)
}

func minPositive(a, b int) int {
	if a >= 0 && b >= 0 {
		return min(a, b)
	}
	return max(a, b)
}

// directMotion fills the 8x8 blocks in mask with spatial direct motion
// (8.4.1.2.2) without the co-located picture's colZeroFlag, which needs the
// reference picture's motion: vectors of direct blocks are approximate.
// Temporal direct needs that motion too; its blocks get zero vectors on
// reference 0 of both lists.
func (d *sliceDecoder) directMotion(mask uint8) {
	m := d.cur
	var ref [2]int
	var mv [2][2]int16
	if !d.hdr.DirectSpatial {
		ref = [2]int{0, 0}
	} else {
		for list := 0; list < 2; list++ {
			_, rA, _ := d.nbMotion(list, -1, 0, 0)
			_, rB, _ := d.nbMotion(list, 0, -1, 0)
			aC, rC, _ := d.nbMotion(list, 4, -1, 0)
			if !aC {
				_, rC, _ = d.nbMotion(list, -1, -1, 0)
			}
			ref[list] = minPositive(rA, minPositive(rB, rC))
		}
		if ref[0] < 0 && ref[1] < 0 {
			ref = [2]int{0, 0}
		} else {
			for list := 0; list < 2; list++ {
				if ref[list] >= 0 {
					mv[list] = d.predictMV(list, ref[list], 0, 0, 4, shape16x16, 0)
				}
			}
		}
	}
	for b8 := 0; b8 < 4; b8++ {
		if mask&(1<<b8) == 0 {
			continue
		}
		x, y := (b8&1)*2, (b8>>1)*2
		for list := 0; list < 2; list++ {
			m.ref[list][b8] = int8(ref[list])
			if ref[list] >= 0 {
				d.fillMV(list, x, y, 2, 2, mv[list])
			}
		}
	}
}
