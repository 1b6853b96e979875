package mb

import "github.com/matthan/matthan/daemon/h264"

// sortPictures sorts a few pictures by increasing key (insertion sort,
// without allocating).
func sortPictures(ps []*picture, key func(*picture) int) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && key(ps[j]) < key(ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// picture is a decoded picture's macroblock state, kept while it is a
// reference picture so that B pictures find their co-located macroblocks
// (direct prediction, 8.4.1.2).
type picture struct {
	mbs         []mbState
	poc         int
	frameNum    int
	longTerm    bool
	longTermIdx int
	// hasMotion is false for pictures that were skipped, did not parse, or
	// came before the stream showed B slices (motion is kept only then).
	hasMotion bool
	// slices holds each slice's reference lists (as POCs), found by the
	// slice tag of its macroblocks, for temporal direct prediction.
	slices []sliceRefs
}

// sliceRefs are the reference picture lists of one slice, as POCs.
type sliceRefs struct {
	tag  uint32
	n    [2]int
	poc  [2][33]int
	long [2][33]bool
}

// refsOf returns the reference lists of the slice that coded mb.
func (p *picture) refsOf(m *mbState) *sliceRefs {
	for i := range p.slices {
		if p.slices[i].tag == m.tag {
			return &p.slices[i]
		}
	}
	return nil
}

// dpb tracks the reference pictures with the marking process of 8.2.5
// (sliding window and memory management operations).
type dpb struct {
	refs []*picture
	pool []*picture // pictures with macroblock arrays, for reuse
	meta []*picture // pictures without (motion not kept)
}

// getMeta returns a picture without macroblock state.
func (b *dpb) getMeta() *picture {
	if n := len(b.meta); n > 0 {
		p := b.meta[n-1]
		b.meta = b.meta[:n-1]
		*p = picture{}
		return p
	}
	return &picture{}
}

// get returns a picture with room for n macroblocks.
func (b *dpb) get(n int) *picture {
	for len(b.pool) > 0 {
		p := b.pool[len(b.pool)-1]
		b.pool = b.pool[:len(b.pool)-1]
		if len(p.mbs) == n {
			*p = picture{mbs: p.mbs, slices: p.slices[:0]}
			return p
		}
	}
	return &picture{mbs: make([]mbState, n)}
}

func (b *dpb) release(p *picture) {
	switch {
	case p == nil:
	case p.mbs == nil:
		b.meta = append(b.meta, p)
	case len(b.pool) < 2:
		b.pool = append(b.pool, p)
	}
}

func (b *dpb) remove(i int) {
	b.release(b.refs[i])
	b.refs = append(b.refs[:i], b.refs[i+1:]...)
}

func (b *dpb) clear() {
	for len(b.refs) > 0 {
		b.remove(len(b.refs) - 1)
	}
}

// picNum is PicNum of a short-term reference frame (8.2.4.1).
func picNum(p *picture, h *h264.SliceHeader) int {
	if p.frameNum > h.FrameNum {
		return p.frameNum - 1<<uint(h.SPS.Log2MaxFrameNum)
	}
	return p.frameNum
}

// mark runs the reference marking of the reference picture cur whose
// (first) slice header is h, and keeps cur.
func (b *dpb) mark(cur *picture, h *h264.SliceHeader) {
	if h.NALType == h264.NALIDRSlice {
		b.clear()
		cur.longTerm = h.LongTermReference
		b.refs = append(b.refs, cur)
		return
	}
	if h.AdaptiveMarking {
		for i := 0; i < h.NumMMCO; i++ {
			op := h.MMCO[i]
			switch op.Op {
			case 1, 3:
				x := h.FrameNum - (op.DiffPicNumsMinus1 + 1)
				for j, p := range b.refs {
					if !p.longTerm && picNum(p, h) == x {
						if op.Op == 1 {
							b.remove(j)
						} else {
							b.dropLongTermIdx(op.LongTermFrameIdx)
							p.longTerm, p.longTermIdx = true, op.LongTermFrameIdx
						}
						break
					}
				}
			case 2:
				for j, p := range b.refs {
					if p.longTerm && p.longTermIdx == op.LongTermPicNum {
						b.remove(j)
						break
					}
				}
			case 4:
				for j := len(b.refs) - 1; j >= 0; j-- {
					if p := b.refs[j]; p.longTerm && p.longTermIdx >= op.MaxLongTermFrameIdx1 {
						b.remove(j)
					}
				}
			case 5:
				b.clear()
			case 6:
				b.dropLongTermIdx(op.LongTermFrameIdx)
				cur.longTerm, cur.longTermIdx = true, op.LongTermFrameIdx
			}
		}
	} else {
		max := h.SPS.MaxNumRefFrames
		if max < 1 {
			max = 1
		}
		for len(b.refs) >= max {
			oldest := -1
			for j, p := range b.refs {
				if !p.longTerm && (oldest < 0 || picNum(p, h) < picNum(b.refs[oldest], h)) {
					oldest = j
				}
			}
			if oldest < 0 {
				break
			}
			b.remove(oldest)
		}
	}
	if len(b.refs) >= 16 {
		b.remove(0)
	}
	b.refs = append(b.refs, cur)
}

func (b *dpb) dropLongTermIdx(idx int) {
	for j, p := range b.refs {
		if p.longTerm && p.longTermIdx == idx {
			b.remove(j)
			return
		}
	}
}

// refList builds RefPicListX of a P or B slice of the frame with POC poc
// (8.2.4.2 initialisation, 8.2.4.3 modification) into out, and returns its
// length (num_ref_idx_lX_active); entries may be nil ("no reference picture").
func (b *dpb) refList(list int, h *h264.SliceHeader, poc int, out *[33]*picture) int {
	var init [33]*picture
	n := 0
	add := func(p *picture) {
		if n < len(init) {
			init[n] = p
			n++
		}
	}
	var short, long [16]*picture
	ns, nl := 0, 0
	for _, p := range b.refs {
		if p.longTerm {
			if nl < 16 {
				long[nl] = p
				nl++
			}
		} else if ns < 16 {
			short[ns] = p
			ns++
		}
	}
	sortPictures(long[:nl], func(p *picture) int { return p.longTermIdx })
	if h.Type != h264.SliceB {
		sortPictures(short[:ns], func(p *picture) int { return -picNum(p, h) })
		for _, p := range short[:ns] {
			add(p)
		}
	} else {
		sortPictures(short[:ns], func(p *picture) int { return p.poc })
		before, after := 0, 0
		for _, p := range short[:ns] {
			if p.poc < poc {
				before++
			} else {
				after++
			}
		}
		if list == 0 {
			for i := before - 1; i >= 0; i-- {
				add(short[i])
			}
			for i := before; i < ns; i++ {
				add(short[i])
			}
		} else {
			for i := before; i < ns; i++ {
				add(short[i])
			}
			for i := before - 1; i >= 0; i-- {
				add(short[i])
			}
		}
		if list == 1 && ns+nl > 1 && (before == 0 || after == 0) {
			// RefPicList1 equals RefPicList0: its first two entries swap.
			init[0], init[1] = init[1], init[0]
		}
	}
	for _, p := range long[:nl] {
		add(p)
	}
	num := h.NumRefIdxActive[list]
	if num > 32 {
		num = 32
	}
	for i := 0; i < num; i++ {
		out[i] = nil
		if i < n {
			out[i] = init[i]
		}
	}
	max := 1 << uint(h.SPS.Log2MaxFrameNum)
	pred := h.FrameNum
	idx := 0
	for k := 0; k < h.NumListMods[list] && idx < num; k++ {
		mod := h.ListMods[list][k]
		var pic *picture
		switch mod.Idc {
		case 0, 1:
			nw := pred
			if mod.Idc == 0 {
				nw -= mod.Val + 1
				if nw < 0 {
					nw += max
				}
			} else {
				nw += mod.Val + 1
				if nw >= max {
					nw -= max
				}
			}
			pred = nw
			pn := nw
			if pn > h.FrameNum {
				pn -= max
			}
			for _, p := range short[:ns] {
				if picNum(p, h) == pn {
					pic = p
				}
			}
		case 2:
			for _, p := range long[:nl] {
				if p.longTermIdx == mod.Val {
					pic = p
				}
			}
		default:
			k = h.NumListMods[list]
			continue
		}
		for c := num; c > idx; c-- {
			out[c] = out[c-1]
		}
		out[idx] = pic
		idx++
		w := idx
		for c := idx; c <= num; c++ {
			if out[c] != pic {
				out[w] = out[c]
				w++
			}
		}
	}
	return num
}
