package motion

import (
	"math"

	"github.com/matthan/matthan/daemon/mbmap"
)

// A car's headlights sweeping a street at night are the commonest false
// alarm after insects: a bright, soft-edged patch as tall as much of the
// picture crosses it in a second or two. The encoder follows the patch
// like a moving object (its blocks carry the sweep's motion vectors), but
// what moves is light, not a thing: the patch has no texture of its own,
// so most of its blocks are skipped (the shifted reference predicts them
// with no residual) and the few coded ones cost little; it has no colour
// (at night the picture is grey, and light adds none); and it is large and
// fast. A region that is all of these at once in one analysed picture
// makes the run of motion it belongs to a light sweep: no event comes of
// it. A person or a car, even at night, brings texture and edges (coded
// residual, fewer skipped blocks) or colour, or is slower or smaller; the
// scene benchmark (make bench-motion) keeps the motion families' recall.
const (
	sweepArea   = 0.05  // share of the unmasked picture the region covers, at least
	sweepSpeed  = 0.016 // mean motion in picture widths per picture, at least
	sweepSkip   = 0.5   // share of the region's blocks skipped, at least
	sweepBits   = 24    // mean bits per block of the region, at most
	sweepChroma = 0.05  // share of the region's blocks with coded colour, at most
)

// lightSweep says whether the largest moving region (bounding box r) of
// the picture f looks like light sweeping the scene rather than a thing
// moving. f is the picture just observed (nil for activity from another
// source: never a sweep).
func (d *Detector) lightSweep(f *mbmap.Frame, area int, r [4]int) bool {
	if f == nil || len(f.MBs) != d.w*d.h || float64(area) < sweepArea*float64(d.unmasked) {
		return false
	}
	var n, skip, chroma int
	var bits, mv float64
	for y := r[1]; y < r[3]; y++ {
		for x := r[0]; x < r[2]; x++ {
			i := y*d.w + x
			if !d.active[i] {
				continue
			}
			mb := &f.MBs[i]
			n++
			if mb.Kind == mbmap.Skip {
				skip++
			}
			if mb.CBP>>4 != 0 {
				chroma++
			}
			bits += float64(mb.Bits)
			mv += math.Hypot(float64(mb.MVX), float64(mb.MVY)) / 4
		}
	}
	if n == 0 {
		return false
	}
	c := float64(n)
	return float64(skip)/c >= sweepSkip && bits/c <= sweepBits && float64(chroma)/c <= sweepChroma &&
		mv/c >= sweepSpeed*float64(d.w*16)
}
