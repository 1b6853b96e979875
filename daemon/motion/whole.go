package motion

import (
	"math"
	"slices"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/mbmap"
)

// KeyStats sums up one key frame: what the encoder had to say about the
// whole picture, whatever moved or not. A scene that stays the same gives
// key frames alike; a covered lens, a blurred one, a switch to infrared and
// a camera turned away each change them their own way.
type KeyStats struct {
	At time.Time
	// BitsPerMB is the mean macroblock-layer bits per macroblock.
	BitsPerMB float64
	// QP is the mean luma quantiser.
	QP float64
	// Detail is the share of macroblocks coded I4x4/I8x8 (texture, edges)
	// rather than I16x16 (flat).
	Detail float64
	// Chroma is the share of macroblocks with coded chroma (cbp chroma):
	// an infrared picture is grey and has almost none.
	Chroma float64
	// Coefs is the mean count of non-zero coefficients per macroblock.
	Coefs float64
	// cols, rows: the bits the key frame spent per macroblock column and
	// row (the picture's layout, averaged over the other axis so that
	// sensor noise cancels out). A camera turned away shows profiles that
	// match the old ones shifted.
	cols, rows []float64
	w, h       int
}

// KeyFrameStats measures a key frame's map (SliceType 'I').
func KeyFrameStats(t time.Time, f *mbmap.Frame) KeyStats {
	n := len(f.MBs)
	k := KeyStats{At: t, w: f.WidthMB, h: f.HeightMB, cols: make([]float64, f.WidthMB), rows: make([]float64, f.HeightMB)}
	if n == 0 {
		return k
	}
	var bits, qp, detail, chroma, coefs int
	for i := range f.MBs {
		m := &f.MBs[i]
		bits += int(m.Bits)
		qp += int(m.QP)
		coefs += int(m.Coefs)
		k.cols[i%f.WidthMB] += float64(m.Bits)
		k.rows[i/f.WidthMB] += float64(m.Bits)
		if m.Type == 'i' {
			detail++
		}
		if m.CBP>>4 != 0 {
			chroma++
		}
	}
	fn := float64(n)
	k.BitsPerMB, k.QP, k.Detail = float64(bits)/fn, float64(qp)/fn, float64(detail)/fn
	k.Chroma, k.Coefs = float64(chroma)/fn, float64(coefs)/fn
	return k
}

// median of the recent key frames' figures, field by field.
func medianStats(hist []KeyStats) KeyStats {
	var m KeyStats
	vals := make([]float64, len(hist))
	med := func(get func(*KeyStats) float64) float64 {
		for i := range hist {
			vals[i] = get(&hist[i])
		}
		slices.Sort(vals)
		if len(vals)%2 == 1 {
			return vals[len(vals)/2]
		}
		return (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
	}
	m.BitsPerMB = med(func(k *KeyStats) float64 { return k.BitsPerMB })
	m.QP = med(func(k *KeyStats) float64 { return k.QP })
	m.Detail = med(func(k *KeyStats) float64 { return k.Detail })
	m.Chroma = med(func(k *KeyStats) float64 { return k.Chroma })
	m.Coefs = med(func(k *KeyStats) float64 { return k.Coefs })
	return m
}

// ncc is the normalised cross-correlation of a and b with b shifted by s
// (a[i] against b[i-s]), over their overlap.
func ncc(a, b []float64, s int) float64 {
	var n int
	var ma, mb float64
	for i := range a {
		if j := i - s; j >= 0 && j < len(b) {
			ma += a[i]
			mb += b[j]
			n++
		}
	}
	if n < 4 {
		return 0
	}
	ma /= float64(n)
	mb /= float64(n)
	var sab, saa, sbb float64
	for i := range a {
		if j := i - s; j >= 0 && j < len(b) {
			x, y := a[i]-ma, b[j]-mb
			sab += x * y
			saa += x * x
			sbb += y * y
		}
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// shift is how a key frame's layout lies against an earlier one's.
type shift struct {
	same float64 // correlation in place (the lower of columns and rows)
	gain float64 // best correlation at a shift minus in place
	dx   int     // the best shift, macroblocks (columns)
	dy   int     // the best shift, macroblocks (rows)
}

// layoutShift compares the layout profiles of two key frames of one size:
// in place, and shifted by 2 macroblocks up to a fifth of the picture
// along each axis.
func layoutShift(a, b *KeyStats) shift {
	if a.w != b.w || a.h != b.h || a.w == 0 {
		return shift{same: 1}
	}
	sc, sr := ncc(a.cols, b.cols, 0), ncc(a.rows, b.rows, 0)
	r := shift{same: min(sc, sr)}
	best := func(p, q []float64, in float64) (float64, int) {
		g, at := 0.0, 0
		m := max(2, len(p)/5)
		for s := -m; s <= m; s++ {
			if s > -2 && s < 2 {
				continue
			}
			if v := ncc(p, q, s) - in; v > g {
				g, at = v, s
			}
		}
		return g, at
	}
	gx, dx := best(a.cols, b.cols, sc)
	gy, dy := best(a.rows, b.rows, sr)
	if gx >= gy {
		r.gain, r.dx = gx, dx
	} else {
		r.gain, r.dy = gy, dy
	}
	return r
}

// moveCheck is a whole-picture change whose key frame kept the scene's
// character, waiting for the next key frame.
type moveCheck struct {
	start         time.Time
	before, after KeyStats
}

// verdict is what a key frame said about a change of the whole picture.
type verdict struct {
	typ    events.Type
	reason string
	at     time.Time
}

// brightStep is one picture's brightness change by its weights.
type brightStep struct {
	at    time.Time
	shift float32
}

// reasonDayNight is ReasonLights found by colour coming or going: the
// camera's infrared day/night switch (told apart in the event's text).
const reasonDayNight = "lights/daynight"

const (
	keyHistory = 5 // key frames kept for the median
	// A picture's weights that move mid-grey by this many levels (of 255)
	// in one picture, or the sum over brightWindow, are a light switched.
	brightJump   = 16
	brightSum    = 24
	brightWindow = time.Second
	// keyRefresh: at most this many key frames in a row are left
	// unanalysed when their headers look like the scene's.
	keyRefresh = 5
	// bytesJump: a P picture this many times the median size of the last
	// 25 was coded afresh (x264 camera clips: a day/night switch 13x, a
	// large object crossing under 2x, headlights under 4x).
	bytesJump = 6
	// moveGain: a turned camera's layout profile correlates with the old
	// one shifted this much better than in place.
	moveGain = 0.35
)

// keyHead is a key frame's size and slice QP, from its header alone.
type keyHead struct {
	bytes int
	qp    int
}

// WantKeyFrame says whether the key frame whose header fields hdr holds
// (mb.Analyzer.PeekHeader: Bytes, QP) is worth analysing in full: a key
// frame costs several predicted pictures to parse. Yes while the scene's
// history is short, during or after a change, when its size or QP differs
// from the recent key frames' (a hand, a blur, a light, infrared all move
// one or the other), and every keyRefresh key frames to keep the history
// current. Key frames not analysed go to ObserveHeader.
func (d *Detector) WantKeyFrame(t time.Time, hdr *mbmap.Frame) bool {
	h := keyHead{bytes: hdr.Bytes, qp: hdr.QP}
	defer func() {
		d.keyHeads = append(d.keyHeads, h)
		if len(d.keyHeads) > keyHistory {
			d.keyHeads = append(d.keyHeads[:0], d.keyHeads[1:]...)
		}
	}()
	d.keySkipped++
	if d.skipKey || len(d.keyHist) < 3 || len(d.keyHeads) < 3 || d.globalOn || d.moveCheck != nil || d.pendMove != nil ||
		d.pendVerdict.typ != "" || d.keySkipped >= keyRefresh ||
		(!d.lightsAt.IsZero() && t.Sub(d.lightsAt) < 2*d.gop+time.Second) || t.Sub(d.globalEnd) < 2*d.gop+time.Second {
		d.keySkipped = 0
		return true
	}
	bytes := make([]int, len(d.keyHeads))
	qps := make([]int, len(d.keyHeads))
	for i, k := range d.keyHeads {
		bytes[i], qps[i] = k.bytes, k.qp
	}
	slices.Sort(bytes)
	slices.Sort(qps)
	mb, mq := bytes[len(bytes)/2], qps[len(qps)/2]
	if 10*h.bytes < 7*mb || 10*h.bytes > 14*mb || h.qp >= mq+2 || h.qp <= mq-2 {
		d.keySkipped = 0
		return true
	}
	return false
}

// StreamStarted tells the detector a new stream begins (the camera
// reconnected or restarted): its first key frame is not compared.
func (d *Detector) StreamStarted() { d.skipKey = true }

// pictureSize notes the size of a picture (every one, analysed or not): a
// P picture many times the size of the recent ones and at least half a key
// frame's was coded afresh (the whole picture changed in it), whatever the
// analysed pictures show and even without weighted prediction. It starts a
// whole-picture change for the next key frame to type (not while the
// picture settles after one).
func (d *Detector) pictureSize(t time.Time, f *mbmap.Frame) {
	if f.SliceType == 'I' {
		d.afterKey = true
		// The key-frame interval, from every key frame (analysed or not).
		if g := t.Sub(d.keySeen); !d.keySeen.IsZero() && g > 0 && g <= 10*time.Second {
			d.gop = g
		}
		d.keySeen, d.keyBytes = t, f.Bytes
		return
	}
	if f.SliceType != 'P' || f.Bytes <= 0 {
		return
	}
	if d.afterKey { // the first P after a key frame is often larger
		d.afterKey = false
		return
	}
	if len(d.sizes) >= 10 && d.w > 0 {
		sorted := append(d.sizesTmp[:0], d.sizes...)
		slices.Sort(sorted)
		d.sizesTmp = sorted
		if med := sorted[len(sorted)/2]; f.Bytes >= bytesJump*med && 2*f.Bytes >= d.keyBytes && !t.Before(d.relearnTo) {
			d.sizes = d.sizes[:0]
			if !d.globalOn {
				if t.Sub(d.globalEnd) > 2*time.Second {
					d.globalID = ""
				}
				d.startGlobal(t)
			}
			d.relearnTo = t.Add(relearnTime)
			return
		}
	}
	if len(d.sizes) >= 25 {
		d.sizes = append(d.sizes[:0], d.sizes[1:]...)
	}
	d.sizes = append(d.sizes, f.Bytes)
}

// ObserveHeader takes the picture-wide fields of a picture that is not
// analysed (mb.Analyzer.SkipHeader): the weights of weighted prediction,
// when the encoder uses it, say directly how much brighter or darker the
// picture is than its reference. A jump starts a whole-picture change
// (lights) that the next key frame confirms or re-types (covered).
func (d *Detector) ObserveHeader(t time.Time, f *mbmap.Frame) {
	d.pictureSize(t, f)
	if f.SliceType != 'P' || !f.Weights.Present {
		return
	}
	w := f.Weights
	shift := (w.LumaScale-1)*128 + float32(w.LumaOffset)
	keep := d.bright[:0]
	for _, b := range d.bright {
		if t.Sub(b.at) < brightWindow {
			keep = append(keep, b)
		}
	}
	d.bright = append(keep, brightStep{at: t, shift: shift})
	var sum float32
	for _, b := range d.bright {
		sum += b.shift
	}
	if abs32(shift) < brightJump && abs32(sum) < brightSum {
		return
	}
	d.bright = d.bright[:0]
	d.lightsAt = t
	if d.w == 0 {
		return
	}
	if !d.globalOn {
		if t.Sub(d.globalEnd) > 2*time.Second {
			// A jump of brightness is a change of its own (a light
			// switched off a few seconds after it was switched on), not
			// the last one going on.
			d.globalID = ""
		}
		d.startGlobal(t)
	}
	d.relearnTo = t.Add(relearnTime)
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// judgeKey compares key frame k with the median of the scene's recent key
// frames. A verdict during a change in progress (a P-picture global change
// or a brightness jump) types that change; a verdict out of the blue (the
// change fell on the key frame, and the encoder's weighted prediction made
// the pictures after it all-skip) is published at once. A turned camera
// needs two key frames that agree.
func (d *Detector) judgeKey(t time.Time, k KeyStats) {
	if d.skipKey {
		// A stream's first key frame is made while the encoder's rate
		// control warms up (few bits, little chroma): it says nothing
		// about the scene.
		d.skipKey = false
		return
	}
	reset := func() {
		d.keyHist = append(d.keyHist[:0], k)
		d.pendMove = nil
	}
	if len(d.keyHist) > 0 && (d.keyHist[0].w != k.w || d.keyHist[0].h != k.h) {
		reset()
		return
	}
	prevKey := d.lastKey
	d.lastKey = t
	if len(d.keyHist) < 3 {
		d.keyHist = append(d.keyHist, k)
		return
	}
	if d.globalOn && d.keyAfter == nil && !t.Before(d.globalStart) {
		before, after := d.keyHist[len(d.keyHist)-1], k // copies: keyHist shifts
		d.keyBefore, d.keyAfter = &before, &after
	} else if !d.globalOn {
		d.keyBefore, d.keyAfter = nil, nil
	}
	if mc := d.moveCheck; mc != nil && !d.globalOn {
		d.moveCheck = nil
		// The new layout stays: this key frame lies like the one during
		// the change, unlike the one before.
		if now, was := layoutShift(&k, &mc.after).same, layoutShift(&mc.after, &mc.before).same; now > was+0.2 {
			d.keyVerdict = verdict{typ: events.Tamper, reason: events.ReasonMoved, at: t}
			d.publishGlobal(mc.start, t, events.Tamper, events.ReasonMoved)
			reset()
			return
		}
	}
	med := medianStats(d.keyHist)
	// A change in progress: the pictures since the last key frame showed
	// one (most of the picture active at once, or a brightness jump).
	recent := func(at time.Time) bool { return !at.IsZero() && at.After(prevKey.Add(-time.Second)) }
	changing := d.globalOn || recent(d.lightsAt) || recent(d.globalStart)
	typ, reason := classify(k, med, changing)
	if typ != "" {
		start := t
		switch {
		case changing:
			if recent(d.lightsAt) {
				start = d.lightsAt
			}
		case reason == events.ReasonCovered || reason == reasonDayNight:
			// Unmistakable on one key frame: texture or colour gone.
		case d.pendVerdict.typ == typ && d.pendVerdict.reason == reason:
			// Out of the blue on the key frame (the pictures after it
			// all-skip with weighted prediction), and the next key frame
			// agrees: the scene did change.
			start = d.pendVerdict.at
		default:
			// One key frame unlike the others may be the encoder's (a
			// rate-control swing): wait for the next.
			d.pendVerdict = verdict{typ: typ, reason: reason, at: t}
			return
		}
		d.pendVerdict = verdict{}
		d.keyVerdict = verdict{typ: typ, reason: reason, at: t}
		if !d.globalOn {
			d.endEvent(t)
			d.running = false
			d.relearnTo = t.Add(relearnTime)
			d.publishGlobal(start, t, typ, reason)
		}
		reset()
		return
	}
	d.pendVerdict = verdict{}
	last := &d.keyHist[len(d.keyHist)-1]
	if sh := layoutShift(&k, last); sh.gain > moveGain {
		if p := d.pendMove; p != nil {
			// The second key frame lies shifted the same way against the
			// scene, and in place against the first: turned, and stays.
			if s0 := layoutShift(p, last); abs(s0.dx-sh.dx) <= 1 && abs(s0.dy-sh.dy) <= 1 &&
				ncc(k.cols, p.cols, 0) > 0.3 && ncc(k.rows, p.rows, 0) > 0.3 {
				d.keyVerdict = verdict{typ: events.Tamper, reason: events.ReasonMoved, at: t}
				if !d.globalOn {
					d.endEvent(t)
					d.running = false
					d.relearnTo = t.Add(relearnTime)
					d.publishGlobal(p.At, t, events.Tamper, events.ReasonMoved)
				}
				reset()
				return
			}
		}
		d.pendMove = &k
		return // not the scene's normal look until confirmed either way
	}
	d.pendMove = nil
	d.keyHist = append(d.keyHist, k)
	if len(d.keyHist) > keyHistory {
		d.keyHist = append(d.keyHist[:0], d.keyHist[1:]...)
	}
}

// classify types a key frame against the median of the recent ones.
// changing: the pictures before it showed a sudden change (a defocus
// creeps in; a light or a hand is sudden).
func classify(k, med KeyStats, changing bool) (events.Type, string) {
	switch {
	case med.Detail > 0.15 && k.Detail < 0.06 && k.QP < med.QP+2 && (k.BitsPerMB < 0.6*med.BitsPerMB || k.QP < med.QP-6):
		// Texture gone and the encoder has little to say, cheaply (a flat
		// picture takes a low QP; a key frame starved by the rate control
		// after a costly change takes a high one): a hand, a cloth, paint
		// over the lens.
		return events.Tamper, events.ReasonCovered
	case med.Chroma > 0.3 && k.Chroma < 0.3*med.Chroma,
		med.Chroma < 0.1 && k.Chroma > 0.3:
		// Colour gone (infrared on) or back (off).
		return events.SceneChange, reasonDayNight
	case !changing && med.Coefs > 4 && k.Coefs < 0.55*med.Coefs && k.BitsPerMB < 0.65*med.BitsPerMB:
		// Fewer coefficients for the same scene, crept in: out of focus.
		return events.Tamper, events.ReasonDefocused
	case k.QP > med.QP+4 || k.QP < med.QP-4 || k.BitsPerMB > 2*med.BitsPerMB || k.BitsPerMB < 0.5*med.BitsPerMB:
		// The encoder sees a different picture of the same layout: the
		// light changed.
		return events.SceneChange, events.ReasonLights
	}
	return "", ""
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
