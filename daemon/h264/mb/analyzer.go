// Package mb parses the macroblock layer of H.264 slices (CAVLC and CABAC,
// I, P and B slices, 8x8 transform, I_PCM, several slices per picture)
// without reconstructing pixels, and fills a macroblock map per picture
// (daemon/mbmap) for the motion detector: per macroblock whether it is
// skipped, intra or inter, its partition, its list-0 motion vector after
// prediction and the bits it took.
//
// Slices parse on their own: only parameter sets carry state from one
// access unit to the next that parsing needs, so a caller may analyse every
// Nth picture (and pass the others to Skip, which reads their parameter
// sets and slice headers only) at almost no cost. B pictures are the
// exception for outputs, not for parsing: direct-predicted blocks (B_Skip,
// B_Direct_16x16, B_Direct_8x8) take their motion and ffmpeg's partition
// character from the co-located picture (RefPicList1[0]). The analyser
// keeps the macroblock state of reference pictures for that (of the latest
// one only until the stream shows a B slice, none for pic_order_cnt_type 2
// streams), so when every picture is analysed the maps equal ffmpeg's and
// spatial and temporal direct vectors are exact; when the co-located
// picture was skipped, direct blocks get spatial-direct vectors without
// colZeroFlag (temporal: zero on reference 0) and a 16x16 partition.
//
// Memory: about 250 bytes per macroblock for the picture being analysed and
// for each reference picture kept (two pictures for a stream without
// B-frames: 4 MB at 1080p, 0.5 MB at 360p).
package mb

import (
	"errors"
	"fmt"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/bits"
	"github.com/matthan/matthan/daemon/mbmap"
)

// ErrNoPicture is returned for an access unit without a slice (parameter
// sets or SEI only).
var ErrNoPicture = errors.New("h264/mb: access unit holds no picture")

// Analyzer turns access units into macroblock maps. It is not safe for
// concurrent use; use one per stream.
type Analyzer struct {
	sps    [32]*h264.SPS
	spsErr [32]error
	pps    [256]*h264.PPS
	ppsErr [256]error

	buf   []byte
	r     bits.Reader
	hdr   h264.SliceHeader
	dec   sliceDecoder
	work  *picture // the picture being analysed
	first h264.SliceHeader
	dpb   dpb
	// keepMotion turns on at the first B slice: from then on reference
	// pictures keep their macroblock state for direct prediction.
	keepMotion bool
	tag        uint32
	pic        uint32
	frames     int
	// work0POC is the POC of the picture being analysed.
	work0POC int
	// prevRefFrameNum is frame_num of the last reference picture seen
	// (analysed or skipped), -1 before the first.
	prevRefFrameNum int

	// picture order count state (8.2.1), for Frame.POC only
	prevPOCMsb, prevPOCLsb           int
	prevFrameNumOffset, prevFrameNum int

	// hdrOut receives the picture-wide fields during SkipHeader.
	hdrOut *mbmap.Frame
	// peekHdr is PeekHeader's slice header.
	peekHdr h264.SliceHeader
}

// NewAnalyzer returns an Analyzer with no parameter sets yet.
func NewAnalyzer() *Analyzer { return &Analyzer{prevRefFrameNum: -1} }

// checkFrameNum notes the frame_num of a picture: a gap (pictures neither
// analysed nor passed to Skip, or lost) makes the reference pictures'
// motion unreliable for direct prediction, so it is forgotten.
func (a *Analyzer) checkFrameNum(h *h264.SliceHeader) {
	max := 1 << uint(h.SPS.Log2MaxFrameNum)
	if h.NALType != h264.NALIDRSlice && a.prevRefFrameNum >= 0 &&
		h.FrameNum != a.prevRefFrameNum && h.FrameNum != (a.prevRefFrameNum+1)%max {
		for _, p := range a.dpb.refs {
			p.hasMotion = false
		}
	}
	if h.NALRefIdc != 0 {
		a.prevRefFrameNum = h.FrameNum
	}
}

// PPSByID implements h264.ParamSets.
func (a *Analyzer) PPSByID(id int) *h264.PPS {
	if id < 0 || id >= len(a.pps) {
		return nil
	}
	return a.pps[id]
}

// SPSByID implements h264.ParamSets.
func (a *Analyzer) SPSByID(id int) *h264.SPS {
	if id < 0 || id >= len(a.sps) {
		return nil
	}
	return a.sps[id]
}

// Analyze parses one access unit's NAL units (without start codes) and
// fills out with its picture's macroblock map. SPS and PPS NAL units in the
// access unit update the analyser's parameter sets first. A picture that
// does not parse (corrupt data, desync) gives an error and leaves out
// partly filled; the next access unit parses normally. Streams the parser
// does not support give an error wrapping h264.ErrUnsupported.
func (a *Analyzer) Analyze(au [][]byte, out *mbmap.Frame) error {
	a.pic++
	started := false
	decoded := 0
	for _, nal := range au {
		if len(nal) == 0 {
			continue
		}
		if nal[0]&0x80 != 0 {
			return fmt.Errorf("h264/mb: forbidden_zero_bit set in a NAL unit header")
		}
		switch t := h264.NALType(nal); t {
		case h264.NALSPS, h264.NALPPS:
			if err := a.takeParameterSet(nal); err != nil {
				return err
			}
		case h264.NALSliceA, h264.NALSliceB, h264.NALSliceC:
			return fmt.Errorf("h264/mb: %w: data partitioning (NAL type %d)", h264.ErrUnsupported, t)
		case h264.NALSlice, h264.NALIDRSlice:
			n, err := a.slice(nal, out, &started)
			decoded += n
			if err != nil {
				if started {
					a.finishPicture(false)
				}
				return err
			}
		}
	}
	if !started {
		return ErrNoPicture
	}
	if total := out.WidthMB * out.HeightMB; decoded != total {
		a.finishPicture(false)
		return fmt.Errorf("h264/mb: picture %d incomplete: %d of %d macroblocks in its slices", out.Number, decoded, total)
	}
	a.finishPicture(true)
	return nil
}

// finishPicture runs reference marking for the picture just analysed (ok:
// all its macroblocks parsed). Until the stream shows a B slice only the
// latest reference picture keeps its macroblock state (the co-located
// picture of a first B picture is the latest reference), and none when
// pic_order_cnt_type is 2 (output order is decode order: no B-frames with
// reordering); from then on every reference picture keeps it.
func (a *Analyzer) finishPicture(ok bool) {
	h := &a.first
	if h.NALRefIdc == 0 {
		return
	}
	var p *picture
	if ok && (a.keepMotion || h.SPS.POCType != 2) {
		p, a.work = a.work, nil
		p.hasMotion = true
	} else {
		p = a.dpb.getMeta()
	}
	p.poc, p.frameNum = a.work0POC, h.FrameNum
	a.dpb.mark(p, h)
	if !a.keepMotion {
		for j, q := range a.dpb.refs {
			if q != p && q.mbs != nil {
				m := a.dpb.getMeta()
				*m = *q
				m.mbs, m.hasMotion = nil, false
				a.dpb.refs[j] = m
				a.dpb.release(q)
			}
		}
	}
}

// setHeader fills a map's picture-wide fields from its first slice header:
// slice QP and weighted prediction of list 0 reference 0.
func setHeader(out *mbmap.Frame, h *h264.SliceHeader) {
	out.QP = h.QP
	out.Weights = mbmap.Weights{}
	if !h.HasWeights {
		return
	}
	wt := &h.Weights
	ld, cd := float32(int(1)<<wt.LumaLog2Denom), float32(int(1)<<wt.ChromaLog2Denom)
	out.Weights = mbmap.Weights{Present: true, Luma: wt.LumaFlag[0][0], Chroma: wt.ChromaFlag[0][0],
		LumaScale: float32(wt.Luma[0][0][0]) / ld, LumaOffset: wt.Luma[0][0][1]}
	for c := 0; c < 2; c++ {
		out.Weights.ChromaScale[c] = float32(wt.Chroma[0][0][c][0]) / cd
		out.Weights.ChromaOffset[c] = wt.Chroma[0][0][c][1]
	}
	if h.NumRefIdxActive[0] == 0 { // I slice: nothing to weigh
		out.Weights = mbmap.Weights{}
	}
}

// SkipHeader is Skip that also fills out's picture-wide fields (Number,
// SliceType, size, IDR, POC, QP, Bytes, Weights) from the first slice
// header, and empties out.MBs: the cheap look at every picture the motion
// detector takes between analysed ones (a brightness change the encoder
// put in a picture's weights shows there only). It returns ErrNoPicture
// when the access unit holds no slice or its first slice header does not
// parse.
func (a *Analyzer) SkipHeader(au [][]byte, out *mbmap.Frame) error {
	a.hdrOut = out
	defer func() { a.hdrOut = nil }()
	out.MBs = out.MBs[:0]
	out.Bytes, out.WidthMB, out.HeightMB = 0, 0, 0
	if err := a.Skip(au); err != nil {
		return err
	}
	if out.WidthMB == 0 {
		return ErrNoPicture
	}
	return nil
}

// PeekHeader reads an access unit's parameter sets and its first slice
// header, and fills out's picture-wide fields (SliceType, size, IDR, QP,
// Bytes, Weights; Number and POC are left alone) without taking note of
// the picture: the caller then passes the access unit to Analyze, Skip or
// SkipHeader as usual. It lets a caller decide from a key frame's size and
// QP whether it is worth analysing. ErrNoPicture when there is no slice or
// its header does not parse.
func (a *Analyzer) PeekHeader(au [][]byte, out *mbmap.Frame) error {
	out.MBs = out.MBs[:0]
	out.Bytes, out.WidthMB, out.HeightMB = 0, 0, 0
	n, err := a.scanAU(au, func(nal []byte) error {
		h := &a.peekHdr
		if err := a.sliceHeader(nal, h); err != nil {
			return ErrNoPicture
		}
		out.SliceType, out.IDR = h.TypeChar(), h.NALType == h264.NALIDRSlice
		out.WidthMB, out.HeightMB = h.SPS.WidthMB, h.SPS.HeightMB
		setHeader(out, h)
		return nil
	})
	out.Bytes += n
	if err != nil {
		return err
	}
	if out.WidthMB == 0 {
		return ErrNoPicture
	}
	return nil
}

// Skip takes note of an access unit the caller does not analyse: only its
// parameter sets are read (a few bytes per NAL unit), so that later
// pictures find them. Use it for the pictures between analysed ones.
func (a *Analyzer) Skip(au [][]byte) error {
	n, err := a.scanAU(au, func(nal []byte) error {
		a.frames++
		// Keep the picture order count state.
		if a.sliceHeader(nal, &a.hdr) == nil {
			a.checkFrameNum(&a.hdr)
			poc := a.poc(&a.hdr)
			if o := a.hdrOut; o != nil {
				o.Number, o.SliceType, o.IDR, o.POC = a.frames-1, a.hdr.TypeChar(), a.hdr.NALType == h264.NALIDRSlice, poc
				o.WidthMB, o.HeightMB = a.hdr.SPS.WidthMB, a.hdr.SPS.HeightMB
				setHeader(o, &a.hdr)
			}
			if a.hdr.NALRefIdc != 0 {
				p := a.dpb.getMeta()
				p.poc, p.frameNum = poc, a.hdr.FrameNum
				a.dpb.mark(p, &a.hdr)
			}
		}
		return nil
	})
	if a.hdrOut != nil {
		a.hdrOut.Bytes += n
	}
	return err
}

// scanAU reads the parameter sets of an access unit and calls first with
// its first slice; it returns the bytes of its slices (up to an error).
func (a *Analyzer) scanAU(au [][]byte, first func(nal []byte) error) (int, error) {
	n, seen := 0, false
	for _, nal := range au {
		switch h264.NALType(nal) {
		case h264.NALSPS, h264.NALPPS:
			if err := a.takeParameterSet(nal); err != nil {
				return n, err
			}
		case h264.NALSlice, h264.NALIDRSlice:
			n += len(nal)
			if seen {
				continue
			}
			seen = true
			if err := first(nal); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// sliceHeader parses the header of slice NAL unit nal into h from the
// unit's first bytes only (a header is far shorter than 256 bytes).
func (a *Analyzer) sliceHeader(nal []byte, h *h264.SliceHeader) error {
	head := nal[1:]
	if len(head) > 256 {
		head = head[:256]
	}
	a.buf = h264.Unescape(a.buf, head)
	a.r.Reset(a.buf)
	return h264.ParseSliceHeader(&a.r, h264.NALType(nal), h264.NALRefIdc(nal), a, h)
}

func (a *Analyzer) slice(nal []byte, out *mbmap.Frame, started *bool) (int, error) {
	a.buf = h264.Unescape(a.buf, nal[1:])
	a.r.Reset(a.buf)
	h := &a.hdr
	if err := h264.ParseSliceHeader(&a.r, h264.NALType(nal), h264.NALRefIdc(nal), a, h); err != nil {
		return 0, fmt.Errorf("h264/mb: %w", err)
	}
	if err := a.ppsErr[h.PPS.ID]; err != nil {
		return 0, fmt.Errorf("h264/mb: %w", err)
	}
	if err := a.spsErr[h.PPS.SPSID]; err != nil {
		return 0, fmt.Errorf("h264/mb: %w", err)
	}
	if h.RedundantPicCnt > 0 {
		return 0, nil
	}
	w, ht := h.SPS.WidthMB, h.SPS.HeightMB
	if !*started {
		*started = true
		out.Number = a.frames
		a.frames++
		out.SliceType = h.TypeChar()
		out.WidthMB, out.HeightMB = w, ht
		out.IDR = h.NALType == h264.NALIDRSlice
		a.checkFrameNum(h)
		out.POC = a.poc(h)
		a.work0POC = out.POC
		a.first = *h
		setHeader(out, h)
		out.Bytes = 0
		if cap(out.MBs) < w*ht {
			out.MBs = make([]mbmap.Macroblock, w*ht)
		}
		out.MBs = out.MBs[:w*ht]
		if a.work == nil || len(a.work.mbs) != w*ht {
			a.work = a.dpb.get(w * ht)
		}
	} else if out.WidthMB != w || out.HeightMB != ht {
		return 0, fmt.Errorf("h264/mb: slices of one access unit disagree on the picture size")
	}
	out.Bytes += len(nal)
	a.tag++
	var col *picture
	var refs *sliceRefs
	if h.Type == h264.SliceB {
		a.keepMotion = true
	}
	if h.Type != h264.SliceI && (a.keepMotion || h.SPS.POCType != 2) {
		// Reference lists, for the co-located picture of B slices and, as
		// POCs kept with the picture, for temporal direct prediction of
		// later B pictures that take this one as co-located.
		var lists [2][33]*picture
		a.work.slices = append(a.work.slices, sliceRefs{tag: a.tag})
		refs = &a.work.slices[len(a.work.slices)-1]
		for list := 0; list < 2; list++ {
			if list == 1 && h.Type != h264.SliceB {
				break
			}
			refs.n[list] = a.dpb.refList(list, h, a.work0POC, &lists[list])
			for i := 0; i < refs.n[list]; i++ {
				refs.poc[list][i] = -1 << 30
				if p := lists[list][i]; p != nil {
					refs.poc[list][i], refs.long[list][i] = p.poc, p.longTerm
				}
			}
		}
		if c := lists[1][0]; h.Type == h264.SliceB && c != nil && c.hasMotion && len(c.mbs) == w*ht {
			col = c
		}
	}
	d := &a.dec
	*d = sliceDecoder{r: &a.r, hdr: h, mbs: a.work.mbs, out: out.MBs, w: w, h: ht, tag: a.tag, pic: a.pic,
		col: col, refs: refs, poc: a.work0POC}
	if err := d.decode(); err != nil {
		return d.decoded, fmt.Errorf("h264/mb: picture %d, slice from macroblock %d: %w", out.Number, h.FirstMB, err)
	}
	return d.decoded, nil
}

// poc computes the picture order count of the picture (8.2.1.1, 8.2.1.3);
// type 1 is not computed (the decode count stands in).
func (a *Analyzer) poc(h *h264.SliceHeader) int {
	idr := h.NALType == h264.NALIDRSlice
	switch h.SPS.POCType {
	case 0:
		if idr {
			a.prevPOCMsb, a.prevPOCLsb = 0, 0
		}
		max := 1 << uint(h.SPS.Log2MaxPOCLsb)
		msb := a.prevPOCMsb
		switch {
		case h.POCLsb < a.prevPOCLsb && a.prevPOCLsb-h.POCLsb >= max/2:
			msb += max
		case h.POCLsb > a.prevPOCLsb && h.POCLsb-a.prevPOCLsb > max/2:
			msb -= max
		}
		poc := msb + h.POCLsb
		if h.NALRefIdc != 0 {
			a.prevPOCMsb, a.prevPOCLsb = msb, h.POCLsb
		}
		if h.DeltaPOCBottom < 0 {
			poc += h.DeltaPOCBottom
		}
		return poc
	case 2:
		off := a.prevFrameNumOffset
		if idr {
			off = 0
		} else if a.prevFrameNum > h.FrameNum {
			off += 1 << uint(h.SPS.Log2MaxFrameNum)
		}
		a.prevFrameNumOffset, a.prevFrameNum = off, h.FrameNum
		poc := 2 * (off + h.FrameNum)
		if h.NALRefIdc == 0 {
			poc--
		}
		return poc
	}
	return a.frames
}

// takeParameterSet stores an SPS or PPS NAL unit for the pictures that
// follow. One that parses with an unsupported feature is kept with its
// error, which the pictures referring to it return.
func (a *Analyzer) takeParameterSet(nal []byte) error {
	a.buf = h264.Unescape(a.buf, nal[1:])
	if h264.NALType(nal) == h264.NALSPS {
		s, err := h264.ParseSPS(a.buf)
		if s == nil {
			return fmt.Errorf("h264/mb: %w", err)
		}
		a.sps[s.ID], a.spsErr[s.ID] = s, err
		return nil
	}
	p, err := h264.ParsePPS(a.buf)
	if p == nil {
		return fmt.Errorf("h264/mb: %w", err)
	}
	a.pps[p.ID], a.ppsErr[p.ID] = p, err
	return nil
}
