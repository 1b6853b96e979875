package mb

import (
	"sort"

	"github.com/matthan/matthan/daemon/h264"
)

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
			*p = picture{mbs: p.mbs}
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

// colocated returns RefPicList1[0] of a B slice (8.2.4.2.4 with the first
// ref_pic_list_modification command), the picture holding the co-located
// macroblocks, or nil when it is unknown.
func (b *dpb) colocated(h *h264.SliceHeader, poc int) *picture {
	var after, before, long []*picture
	for _, p := range b.refs {
		switch {
		case p.longTerm:
			long = append(long, p)
		case p.poc > poc:
			after = append(after, p)
		default:
			before = append(before, p)
		}
	}
	sort.Slice(after, func(i, j int) bool { return after[i].poc < after[j].poc })
	sort.Slice(before, func(i, j int) bool { return before[i].poc > before[j].poc })
	sort.Slice(long, func(i, j int) bool { return long[i].longTermIdx < long[j].longTermIdx })
	list1 := append(append(append([]*picture(nil), after...), before...), long...)
	if len(list1) == 0 {
		return nil
	}
	if len(list1) > 1 && (len(after) == 0 || len(before) == 0) {
		// RefPicList1 equals RefPicList0: its first two entries swap.
		list1[0], list1[1] = list1[1], list1[0]
	}
	mod := h.FirstListMod[1]
	switch mod.Idc {
	case 0, 1:
		max := 1 << uint(h.SPS.Log2MaxFrameNum)
		n := h.FrameNum
		if mod.Idc == 0 {
			n -= mod.Val + 1
			if n < 0 {
				n += max
			}
		} else {
			n += mod.Val + 1
			if n >= max {
				n -= max
			}
		}
		if n > h.FrameNum {
			n -= max
		}
		for _, p := range b.refs {
			if !p.longTerm && picNum(p, h) == n {
				return p
			}
		}
		return nil
	case 2:
		for _, p := range b.refs {
			if p.longTerm && p.longTermIdx == mod.Val {
				return p
			}
		}
		return nil
	}
	return list1[0]
}
