package mb

import (
	"errors"
	"fmt"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/bits"
	"github.com/matthan/matthan/daemon/mbmap"
)

// mbState is what later macroblocks of the same slice need to know about
// a decoded macroblock (contexts, predictors).
type mbState struct {
	tag        uint32 // slice tag: equal to the decoder's tag when decoded in the current slice
	pic        uint32 // picture tag: decoded in the current picture
	cat        uint8
	direct16   bool // B_Skip or B_Direct_16x16
	t8x8       bool
	cbp        uint8 // luma bits 0-3, chroma 4-5
	chromaPred uint8
	direct8    uint8  // bit per 8x8 block predicted in direct mode
	shape      uint8  // partition shape (shape16x16... ) as ffmpeg records it
	cbf        uint32 // CABAC coded_block_flag: 0-15 luma 4x4 (raster), 16-19 Cb AC, 20-23 Cr AC, 24 luma DC, 25 Cb DC, 26 Cr DC
	nnz        [24]uint8
	ref        [2][4]int8 // per 8x8 block, -1 = list unused
	mv         [2][16][2]int16
	mvd        [2][16][2]uint8
}

func (m *mbState) intra() bool { return m.cat <= catPCM }

// sliceDecoder parses one slice's data into the picture's state.
type sliceDecoder struct {
	r     *bits.Reader
	cabac cabacDecoder
	hdr   *h264.SliceHeader
	mbs   []mbState
	out   []mbmap.Macroblock
	w, h  int
	tag   uint32
	pic   uint32
	col   *picture   // RefPicList1[0] of a B slice, nil when unknown
	refs  *sliceRefs // this slice's reference lists, nil when not built
	poc   int        // the picture's POC

	mbX, mbY int
	cur      *mbState
	// neighbours of the current macroblock, nil when not available
	left, top, topLeft, topRight *mbState
	isB, isI                     bool
	useCABAC                     bool
	prevQPDeltaNZ                bool
	decoded                      int // macroblocks decoded in this slice
	tmpMVD                       [2][16][2]int32
	subType                      [4]int
	qp                           int // QP_Y of the current macroblock
	coefs                        int // non-zero coefficients of the current macroblock so far
}

var errDesync = errors.New("slice data does not parse (desync or corrupt)")

func (d *sliceDecoder) fail(format string, args ...any) error {
	return fmt.Errorf("macroblock %d (%d,%d): %w: "+format, append([]any{d.mbY*d.w + d.mbX, d.mbX, d.mbY, errDesync}, args...)...)
}

// mbAt is the macroblock at (mx, my) if it is decoded in the current slice.
func (d *sliceDecoder) mbAt(mx, my int) *mbState {
	if mx < 0 || my < 0 || mx >= d.w || my >= d.h {
		return nil
	}
	m := &d.mbs[my*d.w+mx]
	if m.tag != d.tag {
		return nil
	}
	return m
}

// nb4 finds the luma 4x4 block at (x, y), relative to the current
// macroblock's top-left block, x in -1..4 and y in -1..3; it returns the
// macroblock holding it (nil if not available) and its raster index there.
func (d *sliceDecoder) nb4(x, y int) (*mbState, int) {
	switch {
	case y >= 0:
		switch {
		case y > 3 || x > 3:
			return nil, 0
		case x >= 0:
			return d.cur, y*4 + x
		}
		return d.left, y*4 + x + 4
	case x < 0:
		return d.topLeft, 15
	case x > 3:
		return d.topRight, 12 + x - 4
	}
	return d.top, 12 + x
}

// nbChroma finds the chroma 4x4 block (x, y) in -1..1 of a 2x2 grid.
func (d *sliceDecoder) nbChroma(x, y int) (*mbState, int) {
	if x >= 0 && y >= 0 {
		return d.cur, y*2 + x
	}
	if x < 0 {
		return d.left, y*2 + 1
	}
	return d.top, 2 + x
}

// startMB makes addr the current macroblock and clears its state.
func (d *sliceDecoder) startMB(addr int) error {
	d.mbX, d.mbY = addr%d.w, addr/d.w
	m := &d.mbs[addr]
	if m.pic == d.pic {
		return fmt.Errorf("macroblock %d: %w: coded twice in one picture", addr, errDesync)
	}
	*m = mbState{tag: d.tag, pic: d.pic}
	m.ref = [2][4]int8{{-1, -1, -1, -1}, {-1, -1, -1, -1}}
	d.cur = m
	d.coefs = 0
	d.left = d.mbAt(d.mbX-1, d.mbY)
	d.top = d.mbAt(d.mbX, d.mbY-1)
	d.topLeft = d.mbAt(d.mbX-1, d.mbY-1)
	d.topRight = d.mbAt(d.mbX+1, d.mbY-1)
	return nil
}

// decode parses slice_data() from the reader, which stands right after the header.
func (d *sliceDecoder) decode() error {
	initVLC()
	total := d.w * d.h
	addr := d.hdr.FirstMB
	d.isB = d.hdr.Type == h264.SliceB
	d.isI = d.hdr.Type == h264.SliceI
	d.useCABAC = d.hdr.PPS.CABAC
	d.prevQPDeltaNZ = false
	d.qp = d.hdr.QP
	if d.useCABAC {
		for !d.r.ByteAligned() {
			if d.r.U1() != 1 {
				return fmt.Errorf("slice data: %w: cabac_alignment_one_bit is 0", errDesync)
			}
		}
		table := 0
		if !d.isI {
			table = 1 + d.hdr.CABACInitIdc
		}
		d.cabac.initContexts(table, d.hdr.QP)
		if err := d.cabac.initEngine(d.r); err != nil {
			return fmt.Errorf("slice data: %w: %v", errDesync, err)
		}
	}
	for {
		if addr >= total {
			return fmt.Errorf("slice data: %w: runs past the picture's %d macroblocks", errDesync, total)
		}
		if !d.isI {
			if !d.useCABAC {
				run := int(d.r.UE())
				if d.r.Err() != nil {
					return fmt.Errorf("slice data: mb_skip_run: %w: %v", errDesync, d.r.Err())
				}
				if run > total-addr {
					return fmt.Errorf("slice data: %w: mb_skip_run %d beyond the picture", errDesync, run)
				}
				for ; run > 0; run-- {
					if err := d.startMB(addr); err != nil {
						return err
					}
					d.skipMB(0)
					addr++
				}
				if !d.r.MoreRBSPData() {
					return d.finish()
				}
				if addr >= total {
					return fmt.Errorf("slice data: %w: runs past the picture's %d macroblocks", errDesync, total)
				}
			} else {
				if err := d.startMB(addr); err != nil {
					return err
				}
				start := d.cabac.pos()
				if d.skipFlag() {
					d.skipMB(d.cabac.pos() - start)
					if d.cabac.terminate() == 1 {
						return d.finish()
					}
					addr++
					continue
				}
				if err := d.macroblock(start); err != nil {
					return err
				}
				if d.cabac.terminate() == 1 {
					return d.finish()
				}
				addr++
				continue
			}
		}
		if err := d.startMB(addr); err != nil {
			return err
		}
		start := d.r.Pos()
		if d.useCABAC {
			start = d.cabac.pos()
		}
		if err := d.macroblock(start); err != nil {
			return err
		}
		if d.useCABAC {
			if d.cabac.terminate() == 1 {
				return d.finish()
			}
		} else if !d.r.MoreRBSPData() {
			return d.finish()
		}
		addr++
	}
}

// finish checks that the slice data ended where the NAL unit ends.
func (d *sliceDecoder) finish() error {
	if d.useCABAC {
		if d.cabac.overrun > 0 {
			return fmt.Errorf("slice data: %w: %v", errDesync, bits.ErrExhausted)
		}
		d.r.SetPos(d.cabac.pos())
	}
	if err := d.r.Err(); err != nil {
		return fmt.Errorf("slice data: %w: %v", errDesync, err)
	}
	if d.useCABAC {
		// The arithmetic decoder stops at most a few bits before the
		// rbsp_stop_one_bit (encoders such as x264 flush fewer bits than
		// the standard's flushing procedure); further data means the parse
		// went wrong.
		stop := d.r.StopBit()
		if gap := stop - d.r.Pos(); gap < -1 || gap > 16 {
			return fmt.Errorf("slice data: %w: end_of_slice_flag %d bits away from the end of the slice data", errDesync, gap)
		}
	}
	return nil
}

// skipMB records a P_Skip or B_Skip macroblock.
func (d *sliceDecoder) skipMB(bitsUsed int) {
	m := d.cur
	m.cat = catSkip
	d.prevQPDeltaNZ = false
	if d.isB {
		m.direct16 = true
		m.direct8 = 15
		m.shape = d.directMotion(15, false)
	} else {
		m.ref[0] = [4]int8{0, 0, 0, 0}
		mv := d.pSkipMV()
		d.fillMV(0, 0, 0, 4, 4, mv)
	}
	d.emit(bitsUsed, " -|+"[m.shape])
}

// emit writes the current macroblock's entry of the map.
func (d *sliceDecoder) emit(bitsUsed int, part byte) {
	m := d.cur
	o := &d.out[d.mbY*d.w+d.mbX]
	*o = mbmap.Macroblock{Partition: part, QP: uint8(d.qp), CBP: m.cbp, Coefs: uint16(min(d.coefs, 0xffff))}
	d.coefs = 0
	if bitsUsed > 0xffff {
		bitsUsed = 0xffff
	}
	o.Bits = uint16(bitsUsed)
	switch m.cat {
	case catSkip:
		o.Kind = mbmap.Skip
		o.Type = 'S'
		if d.isB {
			o.Type = 'd'
		}
	case catI4x4:
		o.Kind, o.Type = mbmap.Intra, 'i'
	case catI16x16:
		o.Kind, o.Type = mbmap.Intra, 'I'
	case catPCM:
		o.Kind, o.Type = mbmap.PCM, 'P'
	default:
		o.Kind = mbmap.Inter
		switch {
		case m.direct16:
			o.Type = 'D'
			if m.cbp == 0 {
				o.Kind = mbmap.Skip
			}
		case !d.isB:
			o.Type = '>'
		default:
			var used uint8
			for b := 0; b < 4; b++ {
				if m.ref[0][b] >= 0 {
					used |= predL0
				}
				if m.ref[1][b] >= 0 {
					used |= predL1
				}
			}
			switch {
			case part == '+':
				o.Type = 'X'
			case used == predL0:
				o.Type = '>'
			case used == predL1:
				o.Type = '<'
			default:
				o.Type = 'X'
			}
		}
	}
	if m.cat == catSkip || m.cat == catInter {
		var sx, sy, n int
		for i := 0; i < 16; i++ {
			if m.ref[0][(i>>3)<<1|(i&3)>>1] >= 0 {
				sx += int(m.mv[0][i][0])
				sy += int(m.mv[0][i][1])
				n++
			}
		}
		if n > 0 {
			o.MVX, o.MVY = int16(sx/n), int16(sy/n)
		}
	}
	d.decoded++
}

// macroblock parses macroblock_layer() of the current macroblock.
func (d *sliceDecoder) macroblock(start int) error {
	m := d.cur
	t, err := d.mbType()
	if err != nil {
		return err
	}
	var desc mbDesc
	var ok bool
	switch {
	case d.isI:
		desc, ok = intraDesc(t)
	case d.isB:
		if t < 23 {
			desc, ok = bTypes[t], true
		} else {
			desc, ok = intraDesc(t - 23)
		}
	default:
		if t < 5 {
			desc, ok = pTypes[t], true
		} else {
			desc, ok = intraDesc(t - 5)
		}
	}
	if !ok {
		return d.fail("mb_type %d out of range", t)
	}
	m.cat = desc.cat
	if desc.cat == catPCM {
		return d.pcm(start)
	}
	m.direct16 = desc.direct
	if desc.direct {
		m.direct8 = 15
	}
	noSubLess8x8 := true
	t8x8 := false
	part := byte(' ')
	m.shape = desc.shape
	switch {
	case desc.cat == catInter && desc.shape == shape8x8:
		small, err := d.subMBPred(desc)
		if err != nil {
			return err
		}
		noSubLess8x8 = !small
	default:
		if desc.cat == catI4x4 && d.hdr.PPS.Transform8x8Mode {
			t8x8 = d.transform8x8Flag()
		}
		if err := d.mbPred(desc, t8x8); err != nil {
			return err
		}
	}
	if desc.cat == catInter {
		part = " -|+"[m.shape]
	}
	var cbp uint8
	if desc.cat == catI16x16 {
		cbp = desc.cbpLuma | desc.cbpChroma<<4
	} else {
		c, err := d.codedBlockPattern(desc.cat != catInter)
		if err != nil {
			return err
		}
		cbp = c
		if cbp&15 != 0 && d.hdr.PPS.Transform8x8Mode && desc.cat == catInter && noSubLess8x8 &&
			(!desc.direct || d.hdr.SPS.Direct8x8Inference) {
			m.cbp = cbp
			t8x8 = d.transform8x8Flag()
		}
	}
	m.cbp = cbp
	m.t8x8 = t8x8
	if cbp != 0 || desc.cat == catI16x16 {
		if err := d.qpDelta(); err != nil {
			return err
		}
		if err := d.residual(); err != nil {
			return err
		}
	} else {
		d.prevQPDeltaNZ = false
	}
	if err := d.r.Err(); err != nil {
		return d.fail("%v", err)
	}
	if d.useCABAC {
		if d.cabac.overrun > 0 {
			return d.fail("%v", bits.ErrExhausted)
		}
		d.emit(d.cabac.pos()-start, part)
		return nil
	}
	d.emit(d.r.Pos()-start, part)
	return nil
}

// pcm skips the samples of an I_PCM macroblock.
func (d *sliceDecoder) pcm(start int) error {
	m := d.cur
	if d.useCABAC {
		d.r.SetPos(d.cabac.pos())
	}
	for !d.r.ByteAligned() {
		if d.r.U1() != 0 {
			return d.fail("pcm_alignment_zero_bit is 1")
		}
	}
	d.r.Skip(384 * 8)
	if d.r.Err() != nil {
		return d.fail("I_PCM samples truncated")
	}
	m.cbp = 0x2f
	m.cbf = 1<<27 - 1
	for i := range m.nnz {
		m.nnz[i] = 16
	}
	d.coefs = 384
	d.prevQPDeltaNZ = false
	if d.useCABAC {
		if err := d.cabac.initEngine(d.r); err != nil {
			return d.fail("%v", err)
		}
	}
	d.emit(d.r.Pos()-start, ' ')
	return nil
}

// mbPred parses mb_pred() of an intra or non-8x8 inter macroblock.
func (d *sliceDecoder) mbPred(desc mbDesc, t8x8 bool) error {
	m := d.cur
	switch desc.cat {
	case catI4x4, catI16x16:
		if desc.cat == catI4x4 {
			n := 16
			if t8x8 {
				n = 4
			}
			for i := 0; i < n; i++ {
				d.intraPredMode()
			}
		}
		c, err := d.chromaPredMode()
		if err != nil {
			return err
		}
		m.chromaPred = c
		return nil
	}
	if desc.direct {
		m.shape = d.directMotion(15, false)
		return nil
	}
	nparts := 1
	if desc.shape != shape16x16 {
		nparts = 2
	}
	type geom struct{ x, y, w, h int }
	var g [2]geom
	switch desc.shape {
	case shape16x16:
		g[0] = geom{0, 0, 4, 4}
	case shape16x8:
		g[0], g[1] = geom{0, 0, 4, 2}, geom{0, 2, 4, 2}
	case shape8x16:
		g[0], g[1] = geom{0, 0, 2, 4}, geom{2, 0, 2, 4}
	}
	for list := 0; list < 2; list++ {
		for p := 0; p < nparts; p++ {
			if desc.pred[p]&(1<<list) == 0 {
				continue
			}
			ref := 0
			if d.hdr.NumRefIdxActive[list] > 1 {
				var err error
				if ref, err = d.refIdx(list, g[p].x, g[p].y); err != nil {
					return err
				}
			}
			d.fillRef(list, g[p].x, g[p].y, g[p].w, g[p].h, int8(ref))
		}
	}
	var mvd [2][2][2]int32
	for list := 0; list < 2; list++ {
		for p := 0; p < nparts; p++ {
			if desc.pred[p]&(1<<list) == 0 {
				continue
			}
			x, y, err := d.mvd(list, g[p].x, g[p].y)
			if err != nil {
				return err
			}
			mvd[list][p] = [2]int32{x, y}
			d.fillMVD(list, g[p].x, g[p].y, g[p].w, g[p].h, x, y)
		}
	}
	for list := 0; list < 2; list++ {
		for p := 0; p < nparts; p++ {
			if desc.pred[p]&(1<<list) == 0 {
				continue
			}
			ref := int(m.ref[list][(g[p].y>>1)*2+g[p].x>>1])
			mvp := d.predictMV(list, ref, g[p].x, g[p].y, g[p].w, int(desc.shape), p)
			d.fillMV(list, g[p].x, g[p].y, g[p].w, g[p].h, addMV(mvp, mvd[list][p]))
		}
	}
	return nil
}

// subMBPred parses sub_mb_pred(); small reports a sub-partition smaller
// than 8x8 (which forbids the 8x8 transform).
func (d *sliceDecoder) subMBPred(desc mbDesc) (small bool, err error) {
	m := d.cur
	var subs [4]subDesc
	for i := 0; i < 4; i++ {
		t, err := d.subMBType()
		if err != nil {
			return false, err
		}
		d.subType[i] = t
		if d.isB {
			subs[i] = bSubTypes[t]
			if t == 0 {
				m.direct8 |= 1 << i
				if !d.hdr.SPS.Direct8x8Inference {
					small = true
				}
				continue
			}
		} else {
			subs[i] = pSubTypes[t]
		}
		if subs[i].n > 1 {
			small = true
		}
	}
	for list := 0; list < 2; list++ {
		for i := 0; i < 4; i++ {
			if subs[i].pred&(1<<list) == 0 {
				continue
			}
			x, y := (i&1)*2, (i>>1)*2
			ref := 0
			if d.hdr.NumRefIdxActive[list] > 1 && !desc.ref0 {
				if ref, err = d.refIdx(list, x, y); err != nil {
					return false, err
				}
			}
			d.fillRef(list, x, y, 2, 2, int8(ref))
		}
	}
	for list := 0; list < 2; list++ {
		for i := 0; i < 4; i++ {
			s := subs[i]
			if s.pred&(1<<list) == 0 {
				continue
			}
			for j := 0; j < s.n; j++ {
				x, y := subXY(i, s, j)
				mx, my, err := d.mvd(list, x, y)
				if err != nil {
					return false, err
				}
				d.tmpMVD[list][y*4+x] = [2]int32{mx, my}
				d.fillMVD(list, x, y, s.w, s.h, mx, my)
			}
		}
	}
	if m.direct8 != 0 {
		d.directMotion(m.direct8, true)
	}
	for i := 0; i < 4; i++ {
		s := subs[i]
		for j := 0; j < s.n && s.pred != 0; j++ {
			x, y := subXY(i, s, j)
			for list := 0; list < 2; list++ {
				if s.pred&(1<<list) == 0 {
					continue
				}
				ref := int(m.ref[list][i])
				mvp := d.predictMV(list, ref, x, y, s.w, shape8x8, 0)
				d.fillMV(list, x, y, s.w, s.h, addMV(mvp, d.tmpMVD[list][y*4+x]))
			}
		}
	}
	return small, nil
}

func addMV(p [2]int16, d [2]int32) [2]int16 {
	return [2]int16{int16(int32(p[0]) + d[0]), int16(int32(p[1]) + d[1])}
}

func (d *sliceDecoder) fillRef(list, x, y, w, h int, ref int8) {
	for j := y >> 1; j <= (y+h-1)>>1; j++ {
		for i := x >> 1; i <= (x+w-1)>>1; i++ {
			d.cur.ref[list][j*2+i] = ref
		}
	}
}

func (d *sliceDecoder) fillMV(list, x, y, w, h int, mv [2]int16) {
	for j := y; j < y+h; j++ {
		for i := x; i < x+w; i++ {
			d.cur.mv[list][j*4+i] = mv
		}
	}
}

func (d *sliceDecoder) fillMVD(list, x, y, w, h int, mx, my int32) {
	ax, ay := absClip(mx), absClip(my)
	for j := y; j < y+h; j++ {
		for i := x; i < x+w; i++ {
			d.cur.mvd[list][j*4+i] = [2]uint8{ax, ay}
		}
	}
}

func absClip(v int32) uint8 {
	if v < 0 {
		v = -v
	}
	if v > 64 {
		v = 64
	}
	return uint8(v)
}

// residual parses residual( 0, 15 ) for 4:2:0.
func (d *sliceDecoder) residual() error {
	m := d.cur
	i16 := m.cat == catI16x16
	if i16 {
		if err := d.lumaBlock(-1, 0, 16); err != nil {
			return err
		}
	}
	for i8 := 0; i8 < 4; i8++ {
		if m.cbp&(1<<i8) == 0 {
			continue
		}
		if m.t8x8 && d.useCABAC {
			if err := d.luma8x8CABAC(i8); err != nil {
				return err
			}
			continue
		}
		for i4 := 0; i4 < 4; i4++ {
			pos := int(blkRaster[i8*4+i4])
			var err error
			switch {
			case i16:
				err = d.lumaBlock(pos, 1, 15)
			default:
				err = d.lumaBlock(pos, 2, 16)
			}
			if err != nil {
				return err
			}
		}
	}
	cbpC := m.cbp >> 4
	if cbpC != 0 {
		for c := 0; c < 2; c++ {
			if err := d.chromaDCBlock(c); err != nil {
				return err
			}
		}
	}
	if cbpC == 2 {
		for c := 0; c < 2; c++ {
			for b := 0; b < 4; b++ {
				if err := d.chromaACBlock(c, b); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (d *sliceDecoder) lumaBlock(pos, cat, maxCoeff int) error {
	if d.useCABAC {
		return d.lumaBlockCABAC(pos, cat, maxCoeff)
	}
	p := pos
	if pos < 0 {
		p = 0
	}
	x, y := p&3, p>>2
	mA, iA := d.nb4(x-1, y)
	mB, iB := d.nb4(x, y-1)
	nC := predNC(mA, iA, mB, iB)
	n, err := d.residualBlockCAVLC(nC, maxCoeff)
	if err != nil {
		return err
	}
	if pos >= 0 {
		d.cur.nnz[pos] = uint8(n)
	}
	return nil
}

func predNC(mA *mbState, iA int, mB *mbState, iB int) int {
	switch {
	case mA != nil && mB != nil:
		return (int(mA.nnz[iA]) + int(mB.nnz[iB]) + 1) >> 1
	case mA != nil:
		return int(mA.nnz[iA])
	case mB != nil:
		return int(mB.nnz[iB])
	}
	return 0
}

func (d *sliceDecoder) chromaDCBlock(c int) error {
	if d.useCABAC {
		return d.chromaDCCABAC(c)
	}
	_, err := d.residualBlockCAVLC(-1, 4)
	return err
}

func (d *sliceDecoder) chromaACBlock(c, b int) error {
	if d.useCABAC {
		return d.chromaACCABAC(c, b)
	}
	x, y := b&1, b>>1
	mA, iA := d.nbChroma(x-1, y)
	mB, iB := d.nbChroma(x, y-1)
	nC := predNC(mA, 16+c*4+iA, mB, 16+c*4+iB)
	n, err := d.residualBlockCAVLC(nC, 15)
	if err != nil {
		return err
	}
	d.cur.nnz[16+c*4+b] = uint8(n)
	return nil
}

// subXY is the top-left 4x4 block of sub-macroblock partition j of 8x8 block i.
func subXY(i int, s subDesc, j int) (x, y int) {
	x, y = (i&1)*2, (i>>1)*2
	switch {
	case s.w == 2 && s.h == 1:
		y += j
	case s.w == 1 && s.h == 2:
		x += j
	case s.w == 1 && s.h == 1:
		x += j & 1
		y += j >> 1
	}
	return x, y
}
