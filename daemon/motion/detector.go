// Package motion finds motion in a camera's video without decoding it to
// pixels: it reads the macroblock maps of H.264 pictures (skip or not, intra,
// motion vectors, bits spent) that daemon/h264/mb yields, learns what normal
// activity looks like for every macroblock (leaves, sensor noise, IR grain),
// and reports motion events with start, end, peak area and region through an
// events.Publisher. A change of most of the picture at once (lights switched,
// infrared day/night switch, camera moved or covered) is reported as a scene
// change or as tampering, never as motion.
//
// The package also holds the recording gate (continuous or motion recording
// with pre- and post-event buffers, cut on key frames).
package motion

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/daemon/positive"
)

// Zone is a rectangle of the macroblock grid with its own sensitivity, or a
// mask whose macroblocks are never looked at (a tree, a busy road, a
// neighbour's window). X1 and Y1 are exclusive. Later zones override earlier
// ones where they overlap.
type Zone struct {
	Name           string
	X0, Y0, X1, Y1 int
	// Sensitivity multiplies the detector's sensitivity inside the zone:
	// 2 reacts to half the activity, 0.5 needs twice as much.
	Sensitivity float64
	// Mask ignores the zone entirely.
	Mask bool
}

// Config sets what counts as motion. The zero value of every field picks
// the default given beside it.
type Config struct {
	// AnalysisRate is how many pictures per second are analysed (default 5).
	AnalysisRate float64
	// Sensitivity scales how far above its normal activity a macroblock must
	// be to count as moving (default 1; higher is more sensitive).
	Sensitivity float64
	// MinArea is the smallest connected moving region that counts, in
	// macroblocks (default: 0.4 % of the picture, at least 3).
	MinArea int
	// MinDuration is how long a region must keep moving before an event
	// starts (default 300 ms).
	MinDuration time.Duration
	// EndAfter is how long without motion ends an event (default 1.5 s).
	EndAfter time.Duration
	// LearnTime is the time constant of the background model (default 20 s).
	LearnTime time.Duration
	// GlobalFraction is the share of the picture whose change at once is a
	// scene change rather than motion (default 0.45).
	GlobalFraction float64
	// Zones and masks on the macroblock grid.
	Zones []Zone
}

func (c Config) withDefaults() Config {
	c.AnalysisRate = positive.Or(c.AnalysisRate, 5)
	c.Sensitivity = positive.Or(c.Sensitivity, 1)
	c.MinDuration = positive.Or(c.MinDuration, 300*time.Millisecond)
	c.EndAfter = positive.Or(c.EndAfter, 1500*time.Millisecond)
	c.LearnTime = positive.Or(c.LearnTime, 20*time.Second)
	c.GlobalFraction = positive.Or(c.GlobalFraction, 0.45)
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.AnalysisRate < 0 || c.AnalysisRate > 120 {
		return fmt.Errorf("motion: analysis rate %g frames/s out of range 0..120", c.AnalysisRate)
	}
	if c.Sensitivity < 0 || c.MinArea < 0 || c.MinDuration < 0 || c.EndAfter < 0 || c.LearnTime < 0 {
		return fmt.Errorf("motion: negative setting in %+v", c)
	}
	if c.GlobalFraction < 0 || c.GlobalFraction > 1 {
		return fmt.Errorf("motion: global fraction %g out of range 0..1", c.GlobalFraction)
	}
	for _, z := range c.Zones {
		if z.X0 < 0 || z.Y0 < 0 || z.X1 <= z.X0 || z.Y1 <= z.Y0 {
			return fmt.Errorf("motion: zone %q has an empty or negative rectangle %d,%d-%d,%d", z.Name, z.X0, z.Y0, z.X1, z.Y1)
		}
		if z.Sensitivity < 0 {
			return fmt.Errorf("motion: zone %q has negative sensitivity", z.Name)
		}
	}
	return nil
}

// Activity of one macroblock: how much the encoder had to say about it.
// A block that moved (a motion vector of more than a pixel, skipped or
// not) says so by how far; coded inter blocks add their residual bits;
// intra blocks in a predicted picture say most (something appeared that no
// reference picture had). Vectors under a pixel are what sensor noise
// gives and count nothing.
func Activity(mb *mbmap.Macroblock) float32 {
	var mv float32 // pixels moved beyond noise
	if x, y := int32(mb.MVX), int32(mb.MVY); x*x+y*y > 9 {
		mv = min(sqrt32(float32(x*x+y*y))/4-0.75, 8)
	}
	switch mb.Kind {
	case mbmap.Skip:
		return mv
	case mbmap.Inter:
		return 0.5 + mv + float32(min(mb.Bits, 1024))/128
	default:
		return 3 + float32(min(mb.Bits, 2048))/256
	}
}

const (
	noiseFloor  = 0.75 // activity a block must exceed above its mean, whatever its variance
	deviations  = 2.5  // standard deviations above the mean that count as moving
	relearnTime = 2 * time.Second
	deadBits    = 3   // mean bits per block of a picture that shows nothing (lens covered)
	deadSkip    = 0.9 // share of skipped blocks in such a picture
	// minExcess is the mean excess over their limits that the blocks of a
	// moving region of MinArea blocks must have: noise pokes just over its
	// limit, a moving thing far over it.
	minExcess = 2.5
	// After a global change the background relearns until fewer than
	// settledFraction of the blocks are active (at most maxRelearn), and
	// the verdict waits for a key frame (at most waitKeyFrame).
	settledFraction = 0.08
	maxRelearn      = 10 * time.Second
	waitKeyFrame    = 6 * time.Second
	// sameChange: a global change this soon after the last one ended
	// continues it.
	sameChange = 10 * time.Second
	// flatDetail is the detail under which a key frame shows nothing.
	flatDetail = 0.04
)

// Detector turns a camera's macroblock maps into events. It is not safe for
// concurrent Observe calls; Active may be called from any goroutine.
type Detector struct {
	camera, household string
	cfg               Config
	pub               events.Publisher

	w, h      int
	act       []float32 // activity of the picture being observed
	mean, vr  []float32 // background activity per block: mean and variance
	thresh    []float32 // per-block sensitivity multiplier, 0 = masked
	active    []bool
	excess    []float32 // how far above its limit an active block is (capped)
	label     []int32
	stack     []int32
	zoneName  []string // per block, "" outside named zones
	unmasked  int
	minArea   int
	minMass   float32
	frames    int // analysed P/B pictures since (re)learning began
	lastT     time.Time
	relearnTo time.Time

	// candidate motion; sweep: the run is light sweeping the scene
	// (sweep.go); frame: the picture being observed, nil for activity
	// from another source
	runStart time.Time
	running  bool
	sweep    bool
	frame    *mbmap.Frame
	// Sweeps counts runs of motion put down to light sweeping the scene
	// (headlights at night): no event came of them.
	Sweeps int

	// current motion event
	ev        *events.Event
	lastMove  time.Time
	peakArea  int
	zonesSeen map[string]bool
	seq       int

	// global change
	globalOn     bool
	globalStart  time.Time
	globalEnd    time.Time // when the last global change was judged
	globalID     string
	globalType   events.Type
	globalReason string

	// key-frame statistics (whole.go): the recent key frames of the
	// current scene, the verdict of a key frame on a change, a turn of the
	// camera waiting for its second key frame.
	keyHist    []KeyStats
	keyVerdict verdict
	// pendVerdict: a key frame's verdict without a change in the pictures
	// before it, waiting for the next key frame to agree.
	pendVerdict verdict
	lastKey     time.Time
	skipKey     bool          // the next key frame is a stream's first
	gop         time.Duration // key-frame interval seen
	keySeen     time.Time     // the last key frame, analysed or not
	keyBytes    int           // and its size
	// sizes of the recent P pictures (pictureSize); afterKey: the next P
	// follows a key frame.
	sizes, sizesTmp []int
	afterKey        bool
	// keyHeads: size and slice QP of the recent key frames, analysed or
	// not; keySkipped: key frames since the last analysed one.
	keyHeads   []keyHead
	keySkipped int
	pendMove   *KeyStats
	// keyBefore: the scene's last key frame before a whole-picture change
	// began; keyAfter: the first during it; moveCheck: a change that may
	// be a turned camera, for the next key frame to confirm.
	keyBefore, keyAfter *KeyStats
	moveCheck           *moveCheck
	// lightsAt: when the encoder's weighted prediction last said the
	// picture's brightness jumped; bright is its running sum.
	lightsAt time.Time
	bright   []brightStep

	// grid is the macroblock grid zones and event regions are given on
	// (the main stream's), when the analysed stream is another (the sub
	// stream); zero: the analysed stream's own. gridSet is the grid the
	// zones were laid on.
	gridMu    sync.Mutex
	gridW     int
	gridH     int
	boxLights time.Time // when the box last switched its IR LEDs
	gridSetW  int
	gridSetH  int
	analysedW int // d.w, d.h for other goroutines (AnalysedGrid)
	analysedH int

	// detail of the last key frame analysed, and of the first after a
	// global change
	detail, detailAfter float64
	detailAt            time.Time
	haveAfter           bool

	mu     sync.Mutex
	moving bool
}

// New makes a detector for one camera. Events carry camera and household.
func New(camera, household string, cfg Config, pub events.Publisher) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if pub == nil {
		pub = events.Discard
	}
	return &Detector{camera: camera, household: household, cfg: cfg.withDefaults(), pub: pub}, nil
}

// Interval is the spacing of analysed pictures at the configured rate.
func (d *Detector) Interval() time.Duration {
	return time.Duration(float64(time.Second) / d.cfg.AnalysisRate)
}

// Active reports whether a motion event is open now.
func (d *Detector) Active() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.moving
}

func (d *Detector) setMoving(v bool) {
	d.mu.Lock()
	d.moving = v
	d.mu.Unlock()
}

// SetGrid says on which macroblock grid (w x h) zones are drawn and event
// regions are wanted: the main stream's, when the detector analyses the
// sub stream. Zones are scaled to the analysed picture and regions back.
// Zero w or h: the analysed picture's own grid. Safe from any goroutine.
func (d *Detector) SetGrid(w, h int) {
	d.gridMu.Lock()
	d.gridW, d.gridH = w, h
	d.gridMu.Unlock()
}

// LightsSwitched tells the detector that the box switched its own
// infrared LEDs at t: a whole-picture change starting from 2 s before t
// to BoxLightsWindow after is the box's doing, published with Cause
// events.CauseBox (not an alarm). Safe from any goroutine.
func (d *Detector) LightsSwitched(t time.Time) {
	d.gridMu.Lock()
	d.boxLights = t
	d.gridMu.Unlock()
}

// BoxLightsWindow is how long after the box switches its IR LEDs a scene
// change is put down to it (a key-frame interval or two, and settling).
const BoxLightsWindow = 12 * time.Second

func (d *Detector) grid() (w, h int, box time.Time) {
	d.gridMu.Lock()
	defer d.gridMu.Unlock()
	return d.gridW, d.gridH, d.boxLights
}

// toGrid scales a region on the analysed picture's grid to the zones'
// grid (rounding outwards).
func (d *Detector) toGrid(r [4]int) [4]int {
	gw, gh := d.gridSetW, d.gridSetH
	if gw <= 0 || gh <= 0 || (gw == d.w && gh == d.h) {
		return r
	}
	return [4]int{r[0] * gw / d.w, r[1] * gh / d.h, (r[2]*gw + d.w - 1) / d.w, (r[3]*gh + d.h - 1) / d.h}
}

// AnalysedGrid is the macroblock grid of the pictures analysed (the sub
// stream's when the camera has one), zero before the first. Safe from any
// goroutine.
func (d *Detector) AnalysedGrid() (w, h int) {
	d.gridMu.Lock()
	defer d.gridMu.Unlock()
	return d.analysedW, d.analysedH
}

func (d *Detector) setup(w, h int) {
	n := w * h
	d.w, d.h = w, h
	d.gridMu.Lock()
	d.analysedW, d.analysedH = w, h
	d.gridMu.Unlock()
	gw, gh, _ := d.grid()
	d.gridSetW, d.gridSetH = gw, gh
	// scale maps a zone coordinate on the grid to the analysed picture.
	scale := func(v, g, own int, up bool) int {
		if gw <= 0 || gh <= 0 {
			return v
		}
		if up {
			return (v*own + g - 1) / g
		}
		return v * own / g
	}
	d.mean = make([]float32, n)
	d.vr = make([]float32, n)
	d.thresh = make([]float32, n)
	d.active = make([]bool, n)
	d.excess = make([]float32, n)
	d.label = make([]int32, n)
	d.stack = make([]int32, 0, n)
	d.zoneName = make([]string, n)
	for i := range d.thresh {
		d.thresh[i] = float32(d.cfg.Sensitivity)
		d.vr[i] = 1
		d.mean[i] = 0.5
	}
	for _, z := range d.cfg.Zones {
		s := z.Sensitivity
		if s == 0 {
			s = 1
		}
		x0, x1 := scale(z.X0, gw, w, false), scale(z.X1, gw, w, true)
		y0, y1 := scale(z.Y0, gh, h, false), scale(z.Y1, gh, h, true)
		for y := max(y0, 0); y < min(y1, h); y++ {
			for x := max(x0, 0); x < min(x1, w); x++ {
				i := y*w + x
				if z.Mask {
					d.thresh[i] = 0
					d.zoneName[i] = ""
					continue
				}
				d.thresh[i] = float32(d.cfg.Sensitivity * s)
				d.zoneName[i] = z.Name
			}
		}
	}
	d.unmasked = 0
	for _, t := range d.thresh {
		if t > 0 {
			d.unmasked++
		}
	}
	d.minArea = d.cfg.MinArea
	if d.minArea == 0 {
		d.minArea = max(3, n*4/1000)
	}
	d.minMass = float32(d.minArea) * minExcess
	d.frames = 0
}

// Observe takes the macroblock map of one analysed picture taken at t (box
// clock). Intra-only pictures (key frames) carry no motion and are ignored.
// A change of picture size restarts learning.
func (d *Detector) Observe(t time.Time, f *mbmap.Frame) {
	if f.WidthMB <= 0 || f.HeightMB <= 0 || len(f.MBs) != f.WidthMB*f.HeightMB {
		return
	}
	d.pictureSize(t, f)
	if f.SliceType == 'I' {
		d.observeKey(t, f)
		return
	}
	n := len(f.MBs)
	if cap(d.act) < n {
		d.act = make([]float32, n)
	}
	d.act = d.act[:n]
	nSkip, bits := 0, 0
	for i := range f.MBs {
		mb := &f.MBs[i]
		bits += int(mb.Bits)
		if mb.Kind == mbmap.Skip {
			nSkip++
		}
		d.act[i] = Activity(mb)
	}
	dead := float64(nSkip) >= deadSkip*float64(n) && bits <= deadBits*n
	d.frame = f // for lightSweep
	d.ObserveActivity(t, f.WidthMB, f.HeightMB, d.act, dead)
	d.frame = nil
}

// observeKey measures a key frame (KeyFrameStats) and compares it with
// the recent key frames of the scene (whole.go): a covered, blurred or
// turned camera, or a light or infrared switch, shows there wherever the
// change fell against the key frames and whatever the encoder made of the
// pictures between.
func (d *Detector) observeKey(t time.Time, f *mbmap.Frame) {
	k := KeyFrameStats(t, f)
	d.SetDetail(t, k.Detail)
	d.judgeKey(t, k)
}

// SetDetail records how much detail the picture at t shows, 0 (flat) to 1.
// Observe does it for H.264 key frames.
func (d *Detector) SetDetail(t time.Time, detail float64) {
	if d.globalOn && t.After(d.globalStart) {
		d.detailAfter, d.haveAfter = detail, true
		return
	}
	d.detail, d.detailAt = detail, t
}

// ObserveActivity is Observe for any source of per-block activity on a
// w x h grid: act[i] is block i's
// activity on the scale of Activity, dead says the picture shows nothing
// (lens covered).
func (d *Detector) ObserveActivity(t time.Time, w, h int, act []float32, dead bool) {
	if w <= 0 || h <= 0 || len(act) != w*h {
		return
	}
	if gw, gh, _ := d.grid(); w != d.w || h != d.h || gw != d.gridSetW || gh != d.gridSetH {
		d.endEvent(t)
		d.setup(w, h)
	}
	dt := d.Interval()
	if !d.lastT.IsZero() && t.After(d.lastT) {
		dt = t.Sub(d.lastT)
	}
	d.lastT = t
	d.frames++

	// Learning rate: fast at first and after a global change, slow after.
	learn := d.cfg.LearnTime
	if d.frames == 1 {
		d.relearnTo = t.Add(relearnTime)
	}
	relearning := t.Before(d.relearnTo)
	if relearning {
		learn = relearnTime / 2
	}
	alpha := float32(dt.Seconds() / learn.Seconds())
	if alpha > 0.5 {
		alpha = 0.5
	}

	// Which blocks are above their normal activity.
	nActive := 0
	for i, a := range act {
		s := d.thresh[i]
		if s == 0 {
			d.active[i] = false
			continue
		}
		m, v := d.mean[i], d.vr[i]
		limit := m + (noiseFloor+deviations*sqrt32(v))/s
		on := a > limit
		d.active[i] = on
		d.excess[i] = min(a-limit, 4) * s
		if on {
			nActive++
		}
		// Moving blocks teach the background slowly, so a thing that stops
		// moving (a parked motorbike) fades in; quiet blocks teach it fast.
		al := alpha
		if on && !relearning && !d.globalOn {
			al = alpha / 8
		}
		dv := a - m
		d.mean[i] = m + al*dv
		d.vr[i] = (1-al)*(v+al*dv*dv) + 0.0001
	}

	// A global change: most of the picture at once.
	global := d.unmasked > 0 && float64(nActive) >= d.cfg.GlobalFraction*float64(d.unmasked)
	if global && !relearning {
		if !d.globalOn {
			d.startGlobal(t)
		}
		d.relearnTo = t.Add(relearnTime)
		return
	}
	if d.globalOn {
		since := t.Sub(d.globalStart)
		calm := float64(nActive) < settledFraction*float64(d.unmasked)
		// A key frame that typed the change needs no calm picture.
		typed := d.keyVerdict.typ != "" && !d.keyVerdict.at.Before(d.globalStart.Add(-time.Second))
		if relearning || (!calm && !typed && since < maxRelearn) || (!d.haveAfter && since < waitKeyFrame) {
			// Wait for the picture to settle, and for a key frame to show
			// what it became, before judging.
			d.relearnTo = t.Add(dt / 2)
			return
		}
		d.globalOn = false
		typ, reason := events.SceneChange, ""
		if !d.lightsAt.IsZero() && !d.lightsAt.Before(d.globalStart.Add(-2*time.Second)) {
			reason = events.ReasonLights
		}
		flat := d.haveAfter && d.detailAfter < flatDetail && (d.detailAt.IsZero() || d.detail > 2*d.detailAfter+flatDetail)
		if d.haveAfter {
			d.detail, d.detailAt = d.detailAfter, t
		}
		switch v := d.keyVerdict; {
		case v.typ != "" && !v.at.Before(d.globalStart.Add(-time.Second)):
			typ, reason = v.typ, v.reason
		case dead || flat:
			typ, reason = events.Tamper, events.ReasonCovered
		case reason == "" && d.haveAfter && d.keyBefore != nil && d.keyAfter != nil:
			// All of the picture changed at once, yet its key frame looks
			// like the scene's (same light, detail, colour): the view
			// changed. If the next key frame keeps the new layout, the
			// camera was turned (judgeKey).
			d.moveCheck = &moveCheck{start: d.globalStart, before: *d.keyBefore, after: *d.keyAfter}
		}
		d.publishGlobal(d.globalStart, t, typ, reason)
	}
	if relearning {
		return
	}

	area, mass, region, zone := d.largestRegion()
	moving := area >= d.minArea && mass >= d.minMass
	switch {
	case moving && d.ev != nil:
		d.lastMove = t
		d.grow(area, region, zone)
	case moving && !d.running:
		d.running, d.runStart, d.sweep = true, t, false
		fallthrough
	case moving:
		if !d.sweep && d.lightSweep(d.frame, area, region) {
			d.sweep = true // light, not a thing: no event while it lasts
			d.Sweeps++
		}
		if !d.sweep && t.Sub(d.runStart)+dt >= d.cfg.MinDuration {
			d.startEvent(t, area, region, zone)
		}
	default:
		d.running = false
		if d.ev != nil && t.Sub(d.lastMove) >= d.cfg.EndAfter {
			d.endEvent(d.lastMove.Add(dt))
		}
	}
}

// startGlobal begins a whole-picture change at t: motion stops, and the
// change is judged once the picture settles and a key frame shows it.
func (d *Detector) startGlobal(t time.Time) {
	d.globalOn, d.haveAfter = true, false
	if d.globalID != "" && t.Sub(d.globalEnd) < sameChange {
		// The picture has not settled for long: the same change goes on
		// (the encoder's rate control swinging on new noise), and its
		// event is extended, not repeated.
	} else {
		d.globalStart, d.globalID, d.globalType, d.globalReason = t, "", "", ""
		d.keyVerdict = verdict{}
	}
	d.endEvent(t)
	d.running = false
}

// publishGlobal publishes (or extends: same ID within sameChange of the
// last) a whole-picture event. Tampering is not downgraded by a later
// scene change of the same event. A change the box made by switching its
// IR LEDs is marked as such.
func (d *Detector) publishGlobal(start, end time.Time, typ events.Type, reason string) {
	// The same change goes on when startGlobal extended it (same start),
	// or when a key frame re-types it (a turned camera confirmed) just
	// after it was judged.
	if d.globalID != "" && !d.globalEnd.IsZero() && (start.Equal(d.globalStart) || (start.Sub(d.globalEnd) < 3*time.Second && start.After(d.globalStart.Add(-time.Second)))) {
		start = d.globalStart
		if d.globalType == events.Tamper && typ != events.Tamper {
			typ, reason = d.globalType, d.globalReason
		}
		if reason == "" || (reason == events.ReasonLights && d.globalReason == reasonDayNight) {
			reason = d.globalReason
		}
	} else {
		d.seq++
		d.globalID = d.eventID(start)
	}
	d.globalStart, d.globalType, d.globalReason, d.globalEnd = start, typ, reason, end
	d.sizes = d.sizes[:0] // a new scene: picture sizes start again
	// The encoder settles on the new picture over a GOP (its next key
	// frame resets what the P pictures code): relearn until past it.
	if until := d.lastKey.Add(d.gop + time.Second); d.gop > 0 && until.After(d.relearnTo) {
		d.relearnTo = until
	}
	text := globalText(typ, reason)
	if reason == reasonDayNight {
		reason = events.ReasonLights
	}
	e := events.Event{
		ID: d.globalID, Type: typ, Reason: reason, Camera: d.camera, Household: d.household,
		Start: start, End: end, Region: d.toGrid([4]int{0, 0, d.w, d.h}), Score: 1, Text: text,
	}
	if _, _, box := d.grid(); typ == events.SceneChange && !box.IsZero() &&
		!start.Before(box.Add(-2*time.Second)) && start.Before(box.Add(BoxLightsWindow)) {
		e.Cause = events.CauseBox
		e.Text += " (hộp tự bật/tắt đèn hồng ngoại / the box switched its IR LEDs)"
	}
	d.pub.Publish(e)
}

func globalText(typ events.Type, reason string) string {
	switch reason {
	case events.ReasonCovered:
		return "camera bị che / camera covered"
	case events.ReasonDefocused:
		return "camera bị mờ / camera out of focus"
	case events.ReasonMoved:
		return "camera bị xoay / camera turned away"
	case reasonDayNight:
		return "chuyển ngày/đêm (hồng ngoại) / day-night switch (infrared)"
	case events.ReasonLights:
		return "bật/tắt đèn / lights switched"
	}
	if typ == events.Tamper {
		return "camera bị che hoặc mất hình / camera covered or blinded"
	}
	return "đổi cảnh toàn khung hình / whole picture changed"
}

func (d *Detector) eventID(t time.Time) string {
	return fmt.Sprintf("%s-%d-%d", d.camera, t.UnixMilli(), d.seq)
}

func (d *Detector) startEvent(t time.Time, area int, region [4]int, zone string) {
	d.seq++
	d.ev = &events.Event{
		ID: d.eventID(d.runStart), Type: events.Motion, Camera: d.camera, Household: d.household,
		Start: d.runStart, Region: d.toGrid(region),
	}
	d.peakArea = 0
	d.zonesSeen = map[string]bool{}
	d.lastMove = t
	d.running = false
	d.grow(area, region, zone)
	d.setMoving(true)
	d.pub.Publish(*d.ev) // open event: End is zero until it ends
}

func (d *Detector) grow(area int, r [4]int, zone string) {
	if area > d.peakArea {
		d.peakArea = area
		d.ev.Score = float64(area) / float64(max(d.unmasked, 1))
	}
	g := &d.ev.Region
	r = d.toGrid(r)
	g[0], g[1], g[2], g[3] = min(g[0], r[0]), min(g[1], r[1]), max(g[2], r[2]), max(g[3], r[3])
	if zone != "" {
		d.zonesSeen[zone] = true
	}
}

func (d *Detector) endEvent(end time.Time) {
	if d.ev == nil {
		return
	}
	e := *d.ev
	d.ev = nil
	if !end.After(e.Start) {
		end = e.Start.Add(time.Millisecond)
	}
	e.End = end
	e.Text = fmt.Sprintf("chuyển động %d khối / motion %d macroblocks", d.peakArea, d.peakArea)
	for z := range d.zonesSeen {
		e.Text += " zone:" + z
	}
	d.setMoving(false)
	d.pub.Publish(e)
}

// Close ends an open event at t (the stream ended).
func (d *Detector) Close(t time.Time) {
	if d.ev != nil {
		d.endEvent(t)
	}
}

// largestRegion finds the largest 4-connected group of active blocks; lone
// blocks (no active neighbour) are noise and do not count. It returns its
// size, its bounding box and the zone most of it lies in.
func (d *Detector) largestRegion() (best int, mass float32, region [4]int, zone string) {
	w, h := d.w, d.h
	for i := range d.label {
		d.label[i] = 0
	}
	next := int32(0)
	for start := range d.active {
		if !d.active[start] || d.label[start] != 0 {
			continue
		}
		next++
		d.label[start] = next
		d.stack = append(d.stack[:0], int32(start))
		size := 0
		var m float32
		r := [4]int{w, h, 0, 0}
		zoneVotes := map[string]int(nil)
		for len(d.stack) > 0 {
			i := int(d.stack[len(d.stack)-1])
			d.stack = d.stack[:len(d.stack)-1]
			size++
			m += d.excess[i]
			x, y := i%w, i/w
			r[0], r[1], r[2], r[3] = min(r[0], x), min(r[1], y), max(r[2], x+1), max(r[3], y+1)
			if z := d.zoneName[i]; z != "" {
				if zoneVotes == nil {
					zoneVotes = map[string]int{}
				}
				zoneVotes[z]++
			}
			for _, j := range [4]int{i - 1, i + 1, i - w, i + w} {
				if j < 0 || j >= len(d.active) || !d.active[j] || d.label[j] != 0 {
					continue
				}
				if (j == i-1 && x == 0) || (j == i+1 && x == w-1) {
					continue
				}
				d.label[j] = next
				d.stack = append(d.stack, int32(j))
			}
		}
		if m > mass {
			best, mass, region = size, m, r
			zone = ""
			top := 0
			for z, v := range zoneVotes {
				if v > top || (v == top && z < zone) {
					zone, top = z, v
				}
			}
		}
	}
	if best < 2 {
		return 0, 0, [4]int{}, ""
	}
	return best, mass, region, zone
}

func sqrt32(v float32) float32 { return float32(math.Sqrt(float64(v))) }
