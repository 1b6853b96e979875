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

// directMotion fills the 8x8 blocks in mask with direct-predicted motion
// and returns the macroblock's partition shape as ffmpeg records it (b8x8:
// the blocks are sub-macroblocks of a B_8x8). Spatial (8.4.1.2.2) and
// temporal (8.4.1.2.3) direct are exact when the co-located picture's
// motion is known (d.col); otherwise spatial direct goes without its
// colZeroFlag and temporal direct gives zero vectors on reference 0.
func (d *sliceDecoder) directMotion(mask uint8, b8x8 bool) uint8 {
	var colMB *mbState
	if d.col != nil {
		colMB = &d.col.mbs[d.mbY*d.w+d.mbX]
	}
	colShape := func() uint8 {
		switch {
		case b8x8:
			return shape8x8
		case colMB == nil:
			return shape16x16
		case colMB.intra() || colMB.shape == shape16x16:
			return shape16x16
		}
		return colMB.shape
	}
	if !d.hdr.DirectSpatial {
		shape := colShape()
		d.temporalDirect(mask, colMB, shape == shape16x16)
		return shape
	}
	var ref [2]int
	var mv [2][2]int16
	for list := 0; list < 2; list++ {
		_, rA, _ := d.nbMotion(list, -1, 0, 0)
		_, rB, _ := d.nbMotion(list, 0, -1, 0)
		aC, rC, _ := d.nbMotion(list, 4, -1, 0)
		if !aC {
			_, rC, _ = d.nbMotion(list, -1, -1, 0)
		}
		ref[list] = minPositive(rA, minPositive(rB, rC))
		if ref[list] >= 0 {
			mv[list] = d.predictMV(list, ref[list], 0, 0, 4, shape16x16, 0)
		} else {
			ref[list] = -1
		}
	}
	if ref[0] < 0 && ref[1] < 0 {
		ref = [2]int{0, 0}
	}
	d.fillDirect(mask, ref, mv)
	if !b8x8 && mv[0] == [2]int16{} && mv[1] == [2]int16{} {
		return shape16x16
	}
	if colMB == nil {
		return shape16x16
	}
	shape := colShape()
	longTerm := d.col.longTerm
	small := func(v [2]int16) bool { return v[0] >= -1 && v[0] <= 1 && v[1] >= -1 && v[1] <= 1 }
	zeroRef0 := func(x, y, w, h int) {
		for list := 0; list < 2; list++ {
			if ref[list] == 0 {
				d.fillMV(list, x, y, w, h, [2]int16{})
			}
		}
	}
	if shape == shape16x16 {
		if !colMB.intra() && !longTerm &&
			((colMB.ref[0][0] == 0 && small(colMB.mv[0][0])) ||
				(colMB.ref[0][0] < 0 && colMB.ref[1][0] == 0 && small(colMB.mv[1][0]))) {
			zeroRef0(0, 0, 4, 4)
		}
		return shape
	}
	n := 0
	for i8 := 0; i8 < 4; i8++ {
		if mask&(1<<i8) == 0 {
			continue
		}
		if colMB.intra() || longTerm {
			continue
		}
		l1 := 0
		switch {
		case colMB.ref[0][i8] == 0:
		case colMB.ref[0][i8] < 0 && colMB.ref[1][i8] == 0:
			l1 = 1
		default:
			continue
		}
		x8, y8 := i8&1, i8>>1
		if d.hdr.SPS.Direct8x8Inference {
			if small(colMB.mv[l1][(y8*3)*4+x8*3]) {
				zeroRef0(x8*2, y8*2, 2, 2)
				n += 4
			}
			continue
		}
		for i4 := 0; i4 < 4; i4++ {
			x, y := x8*2+i4&1, y8*2+i4>>1
			if small(colMB.mv[l1][y*4+x]) {
				zeroRef0(x, y, 1, 1)
				n++
			}
		}
	}
	if !b8x8 && n&15 == 0 {
		return shape16x16
	}
	return shape
}

func (d *sliceDecoder) fillDirect(mask uint8, ref [2]int, mv [2][2]int16) {
	m := d.cur
	for b8 := 0; b8 < 4; b8++ {
		if mask&(1<<b8) == 0 {
			continue
		}
		x, y := (b8&1)*2, (b8>>1)*2
		for list := 0; list < 2; list++ {
			m.ref[list][b8] = int8(ref[list])
			if ref[list] >= 0 {
				d.fillMV(list, x, y, 2, 2, mv[list])
			} else {
				d.fillMV(list, x, y, 2, 2, [2]int16{})
			}
		}
	}
}

// temporalDirect fills the 8x8 blocks in mask with temporal direct motion
// (8.4.1.2.3): the co-located block's vector scaled by POC distances. whole
// is true when the co-located macroblock is one 16x16 partition (or intra).
func (d *sliceDecoder) temporalDirect(mask uint8, colMB *mbState, whole bool) {
	m := d.cur
	var colRefs *sliceRefs
	if colMB != nil && d.refs != nil {
		colRefs = d.col.refsOf(colMB)
	}
	if colRefs == nil || colMB.intra() {
		// Unknown (zero) or intra co-located motion: reference 0, no motion.
		d.fillDirect(mask, [2]int{0, 0}, [2][2]int16{})
		return
	}
	for b8 := 0; b8 < 4; b8++ {
		if mask&(1<<b8) == 0 {
			continue
		}
		c8 := b8
		if whole {
			c8 = 0
		}
		list := 0
		refCol := int(colMB.ref[0][c8])
		if refCol < 0 {
			list = 1
			refCol = int(colMB.ref[1][c8])
		}
		ref0 := 0
		scale := 256
		if refCol >= 0 && refCol < colRefs.n[list] {
			poc := colRefs.poc[list][refCol]
			for i := 0; i < d.refs.n[0]; i++ {
				if d.refs.poc[0][i] == poc && d.refs.long[0][i] == colRefs.long[list][refCol] {
					ref0 = i
					break
				}
			}
			scale = d.distScale(ref0)
		}
		m.ref[0][b8], m.ref[1][b8] = int8(ref0), 0
		x8, y8 := (b8&1)*2, (b8>>1)*2
		for i4 := 0; i4 < 4; i4++ {
			x, y := x8+i4&1, y8+i4>>1
			var colIdx int
			switch {
			case whole:
				colIdx = 0
			case d.hdr.SPS.Direct8x8Inference:
				colIdx = (y8 + y8/2) * 4
				colIdx += x8 + x8/2
			default:
				colIdx = y*4 + x
			}
			mvCol := colMB.mv[list][colIdx]
			mx := int16((scale*int(mvCol[0]) + 128) >> 8)
			my := int16((scale*int(mvCol[1]) + 128) >> 8)
			m.mv[0][y*4+x] = [2]int16{mx, my}
			m.mv[1][y*4+x] = [2]int16{mx - mvCol[0], my - mvCol[1]}
		}
	}
}

// distScale is DistScaleFactor for reference ref0 of list 0 (8.4.1.2.3),
// 256 when the distance is undefined (long-term reference, td 0).
func (d *sliceDecoder) distScale(ref0 int) int {
	if d.refs.n[1] == 0 || ref0 >= d.refs.n[0] || d.refs.long[0][ref0] {
		return 256
	}
	clip := func(v int) int { return max(-128, min(127, v)) }
	p0 := d.refs.poc[0][ref0]
	tb := clip(d.poc - p0)
	td := clip(d.refs.poc[1][0] - p0)
	if td == 0 {
		return 256
	}
	tdAbs := td
	if tdAbs < 0 {
		tdAbs = -tdAbs
	}
	tx := (16384 + tdAbs/2) / td
	return max(-1024, min(1023, (tb*tx+32)>>6))
}
