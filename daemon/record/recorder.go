// Package record turns a camera's access units into fragmented MP4 segment
// files in a storage.Store: a segment about every minute, cut at a key
// frame; a fragment (moof+mdat, one writev) about every quarter second; fsync often
// enough that a power cut loses at most Options.MaxLoss of video. It never
// transcodes.
package record

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/positive"
	"github.com/matthan/matthan/daemon/storage"
)

// Options tune a Recorder. Zero values take the defaults.
type Options struct {
	// SegmentDuration: a segment is cut at the first key frame after this
	// much video; default 60 s.
	SegmentDuration time.Duration
	// FragmentDuration: a fragment is written after this much video;
	// default MaxLoss/8 (250 ms), at most MaxLoss/2. The fragment being
	// built is the recorder's memory (a 4 Mbit/s camera: a key frame and
	// ~125 KB at 250 ms, ~400 KB at 1 s); a fragment costs ~100 bytes of
	// moof and one writev, and fsyncs follow MaxLoss, not the fragment.
	FragmentDuration time.Duration
	// MaxLoss is the most video a power cut may lose; default 2 s.
	MaxLoss time.Duration
	// MaxGap: a jump of the decode time larger than this ends the segment
	// (the next starts at the next key frame); smaller jumps become the
	// duration of the sample before them. Default 5 s.
	MaxGap time.Duration
	// Audio records the camera's sound (media.Stream.Audio) as a second
	// track of the same segments: AAC as it comes, G.711 as 16-bit LPCM.
	// Off: the segments have video only (the camera's switch "Ghi âm
	// thanh / Record audio", off by default).
	Audio bool
	// Events receives disk_error events (at most one a minute).
	Events events.Publisher
	// Logf logs; nil discards.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	o.SegmentDuration = positive.Or(o.SegmentDuration, 60*time.Second)
	o.MaxLoss = positive.Or(o.MaxLoss, 2*time.Second)
	o.FragmentDuration = positive.Or(o.FragmentDuration, o.MaxLoss/8)
	o.FragmentDuration = min(o.FragmentDuration, o.MaxLoss/2)
	o.MaxGap = positive.Or(o.MaxGap, 5*time.Second)
	if o.Events == nil {
		o.Events = events.Discard
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Stats counts what a Recorder did.
type Stats struct {
	Frames, Dropped     int64
	Fragments, Segments int64
	WriteErrors, Syncs  int64
	LastFragmentEnd     time.Time // box time just past the last written sample
	LastSynced          time.Time // box time just past the last fsynced sample
}

// Recorder records one camera. It implements media.Sink.
type Recorder struct {
	store  *storage.Store
	camera string
	opts   Options

	mu      sync.Mutex
	stream  media.Stream
	init    []byte
	ready   bool // stream has a usable init segment
	waitKey bool

	seg      *storage.SegmentWriter
	segStart time.Time     // box time of tick 0 of the segment
	segDTS0  time.Duration // stream DTS at tick 0
	seq      uint32

	frag     fmp4.FragmentBuilder
	fragBase uint64 // segment tick of the fragment's first sample
	lastPos  uint64 // segment tick of the last sample added
	nextTick uint64 // segment tick just past the last sample (provisional)
	lastDTS  time.Duration
	lastDur  uint32 // ticks between the last two pictures
	unsynced uint64 // ticks written but not fsynced

	timer    *time.Timer
	timerGen uint64
	armedGen uint64

	nalus [][]byte
	parts [3][]byte // a fragment's header, video and audio samples, for one writev

	// The audio track (r.stream.Audio != nil): its samples wait in afrag
	// and go out in the next fragment, in the audio's timescale.
	afrag     fmp4.FragmentBuilder
	aBase     uint64   // segment tick (audio timescale) of afrag's first sample
	aNext     uint64   // just past the last audio sample added
	gop       gopIndex // where the current GOP's pictures are (ReadGOP)
	readBuf   []byte   // ReadGOP's, during one call
	lastAlarm time.Time
	stats     Stats
}

var _ media.Sink = (*Recorder)(nil)

// New returns a recorder for camera writing into store.
func New(store *storage.Store, camera string, opts Options) *Recorder {
	opts.defaults()
	r := &Recorder{store: store, camera: camera, opts: opts}
	return r
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func ticks(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d) / 1000 * fmp4.Timescale / 1000000 // µs * 90000 / 1e6, no overflow for 3000 years
}

func tickDur(t uint64) time.Duration {
	return time.Duration(t * 1000000 / fmp4.Timescale * 1000)
}

// StreamStarted ends the current segment and prepares a new one for s; the
// new segment starts at the stream's first key frame.
func (r *Recorder) StreamStarted(s media.Stream) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finishSegment()
	r.stream = s
	r.stream.VPS = bytes.Clone(s.VPS)
	r.stream.SPS = bytes.Clone(s.SPS)
	r.stream.PPS = bytes.Clone(s.PPS)
	r.stream.Audio = nil
	if r.opts.Audio && s.Audio != nil {
		a := *s.Audio
		a.Config = bytes.Clone(a.Config)
		r.stream.Audio = &a
	}
	r.ready = false
	r.waitKey = true
	if s.Codec != media.H264 && s.Codec != media.H265 {
		return fmt.Errorf("record %s: %w", r.camera, fmp4.ErrUnsupported)
	}
	r.buildInit()
	return nil
}

// buildInit makes the init segment from r.stream; without parameter sets
// it waits for a key frame that carries them.
func (r *Recorder) buildInit() {
	init, err := fmp4.InitSegment(r.stream)
	if err != nil {
		r.ready = false
		return
	}
	r.init = init
	r.ready = true
}

// WriteAccessUnit adds one picture. Pictures before the first key frame are
// dropped. Storage errors are logged and reported as events, never returned
// as fatal: recording goes on with the next fragment or segment.
func (r *Recorder) WriteAccessUnit(au *media.AccessUnit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream.Codec != media.H264 && r.stream.Codec != media.H265 {
		r.stats.Dropped++
		return nil
	}
	if !hasPicture(r.stream.Codec, au) {
		r.stats.Dropped++ // empty or truncated: nothing a player could show
		return nil
	}
	if au.Key {
		r.learnParams(au)
	}
	if r.waitKey && !au.Key || !r.ready {
		r.stats.Dropped++
		return nil
	}
	r.waitKey = false

	var pos uint64
	if r.seg != nil {
		delta := au.DTS - r.lastDTS
		if delta > r.opts.MaxGap || delta < -r.opts.MaxGap {
			r.opts.Logf("record %s: time jump of %v, new segment", r.camera, delta)
			r.finishSegment()
			if !au.Key {
				r.waitKey = true
				r.stats.Dropped++
				return nil
			}
		}
	}
	if r.seg != nil {
		pos = ticks(au.DTS - r.segDTS0)
		prev := r.frag.LastDuration()
		if pos <= r.lastPos {
			pos = r.lastPos + uint64(max(prev, 1))
		}
		if r.frag.Len() > 0 {
			r.frag.SetLastDuration(uint32(pos - r.lastPos))
			r.lastDur = uint32(pos - r.lastPos)
		} else {
			pos = max(pos, r.nextTick) // the previous fragment is out with a provisional duration
		}
		r.nextTick = pos
		if au.Key && (tickDur(pos) >= r.opts.SegmentDuration || r.seg.Elsewhere()) || r.seg.Size() > storage.MaxSegmentBytes/2 {
			r.finishSegment()
		} else if r.frag.Len() > 0 && (au.Key || tickDur(pos-r.fragBase) >= r.opts.FragmentDuration) {
			r.flushFragment()
		}
	}
	if r.seg == nil {
		if r.waitKey && !au.Key { // the segment was dropped above (its disk was lost)
			r.stats.Dropped++
			return nil
		}
		r.waitKey = false
		if !r.startSegment(au) {
			r.stats.Dropped++
			return nil
		}
		pos = 0
	}
	if r.frag.Len() == 0 {
		r.fragBase = pos
		r.armTimer()
	}
	dur := r.frag.LastDuration()
	if dur == 0 {
		dur = r.lastDur // a fragment's first picture: as long as the last one
	}
	if dur == 0 {
		dur = fmp4.Timescale / 25
	}
	cto := int32(0)
	if d := au.PTS - au.DTS; d > 0 && d < 10*time.Second {
		cto = int32(ticks(d))
	}
	off := r.frag.PayloadSize()
	r.frag.AddNALUs(r.stream.Codec, r.withParams(au), fmp4.Sample{Duration: dur, PTSOffset: cto, Key: au.Key})
	r.gop.add(au, int64(off), r.frag.PayloadSize()-off, cto)
	if au.Key {
		// A key frame is a fragment of its own: the buffer never holds a
		// key frame and a quarter second of pictures after it (a key
		// frame is several pictures' worth).
		r.flushFragment()
	}
	r.lastPos = pos
	r.nextTick = pos + uint64(dur)
	r.lastDTS = au.DTS
	r.stats.Frames++
	return nil
}

// maxAudioSamples bounds the sound waiting for the next fragment (the
// pictures stopped: the fragment comes with the next one, or never).
const maxAudioSamples = 1000

// audioGap: sound this much later than where the track is goes in after a
// silence (the sample before it lasts longer); less is jitter, and the
// samples stay back to back.
const audioGap = 100 * time.Millisecond

// WriteAudio implements media.AudioSink: with Options.Audio, the sound
// goes into the segment being written, in the next fragment beside the
// pictures; sound before the segment's first picture, or while no segment
// is open, is dropped.
func (r *Recorder) WriteAudio(u *media.AudioUnit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.stream.Audio
	if a == nil || r.seg == nil || len(u.Data) == 0 || r.afrag.Len() >= maxAudioSamples {
		return nil
	}
	pos := u.PTS - r.segDTS0
	if pos < 0 {
		return nil
	}
	rate := uint64(a.SampleRate)
	tick := uint64(pos) / 1000 * rate / 1000000 // µs * rate / 1e6
	n := a.Samples(u)
	if n <= 0 {
		return nil
	}
	if r.afrag.Len() == 0 {
		r.aBase = max(tick, r.aNext)
		r.aNext = r.aBase
	} else if gap := uint64(audioGap) / 1000 * rate / 1000000; tick > r.aNext+gap {
		r.afrag.SetLastDuration(r.afrag.LastDuration() + uint32(tick-r.aNext))
		r.aNext = tick
	}
	s := fmp4.Sample{Duration: uint32(n), Key: true}
	if a.Codec == media.AAC {
		r.afrag.AddSample(u.Data, s)
	} else {
		r.afrag.AddLPCM(u.Data, a.Codec, s)
	}
	r.aNext += uint64(n)
	return nil
}

// StreamEnded writes what is buffered and closes the segment.
func (r *Recorder) StreamEnded(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finishSegment()
	r.waitKey = true
}

// Close ends recording: the buffered fragment is written and the segment
// closed. The recorder may be used again after a StreamStarted.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finishSegment()
	if r.timer != nil {
		r.timer.Stop()
	}
	return nil
}

func (r *Recorder) startSegment(au *media.AccessUnit) bool {
	start := r.stream.Epoch.Add(au.DTS)
	w, err := r.store.Create(r.camera, start, r.init)
	if err != nil {
		r.storageError(err)
		r.waitKey = true
		return false
	}
	r.seg = w
	r.segStart = w.Start()
	r.segDTS0 = au.DTS
	r.seq = 0
	r.lastPos, r.nextTick, r.unsynced, r.lastDur = 0, 0, 0, 0
	r.frag.Reset()
	r.afrag.Reset()
	r.aNext = 0
	r.stats.Segments++
	return true
}

// flushFragment writes the buffered samples as one fragment and fsyncs when
// the unsynced video could otherwise exceed MaxLoss.
func (r *Recorder) flushFragment() {
	if r.frag.Len() == 0 || r.seg == nil {
		return
	}
	r.timerGen++
	r.seq++
	dur := r.frag.Duration()
	// The moof and the samples go out with one writev: the fragment is
	// never copied into a second buffer.
	r.parts[0] = r.frag.HeaderAV(r.seq, r.fragBase, &r.afrag, r.aBase)
	r.parts[1] = r.frag.Payload()
	r.parts[2] = r.afrag.Payload()
	end := r.segStart.Add(tickDur(r.fragBase + dur))
	r.nextTick = max(r.nextTick, r.fragBase+dur)
	payloadAt := r.seg.Size() + int64(len(r.parts[0]))
	err := r.seg.AppendParts(r.parts[:], end)
	r.parts = [3][]byte{}
	r.frag.Reset()
	r.afrag.Reset()
	if err != nil {
		r.gop.reset()
	} else {
		r.gop.written(payloadAt)
	}
	if err != nil {
		// The fragment is lost (the file was cut back to its last good
		// fragment); the next one continues the segment.
		r.storageError(err)
		r.dropLostSegment(err)
		return
	}
	r.stats.Fragments++
	r.stats.LastFragmentEnd = end
	r.unsynced += dur
	if tickDur(r.unsynced)+2*r.opts.FragmentDuration > r.opts.MaxLoss {
		if err := r.seg.Sync(); err != nil {
			r.storageError(err)
			r.dropLostSegment(err)
			return
		}
		r.unsynced = 0
		r.stats.Syncs++
		r.stats.LastSynced = end
	}
}

// finishSegment writes the last fragment (its last sample keeps the
// previous sample's duration) and closes the segment.
func (r *Recorder) finishSegment() {
	if r.seg == nil {
		return
	}
	r.flushFragment()
	if r.seg == nil { // dropped: its disk was lost
		return
	}
	end := r.segStart.Add(tickDur(r.nextTick))
	if err := r.seg.Close(end); err != nil {
		r.storageError(err)
	} else {
		r.stats.LastSynced = r.stats.LastFragmentEnd
	}
	r.seg = nil
	r.frag.Reset()
	r.gop.reset()
}

// dropLostSegment ends the segment when its recording disk was lost
// (storage.ErrDiskLost): it is closed best-effort, and the next key frame
// starts a new segment, which the store creates on the card.
func (r *Recorder) dropLostSegment(err error) {
	if r.seg == nil || !errors.Is(err, storage.ErrDiskLost) {
		return
	}
	r.opts.Logf("record %s: recording disk lost, new segment at the next key frame", r.camera)
	r.seg.Close(r.segStart.Add(tickDur(r.nextTick))) // fails fast: the disk is gone
	r.seg = nil
	r.frag.Reset()
	r.gop.reset()
	r.waitKey = true
}

func (r *Recorder) storageError(err error) {
	r.stats.WriteErrors++
	now := time.Now()
	if now.Sub(r.lastAlarm) < time.Minute {
		return
	}
	r.lastAlarm = now
	r.opts.Logf("record %s: %v", r.camera, err)
	r.opts.Events.Publish(events.Event{Type: events.DiskError, Camera: r.camera, Start: now,
		Text: fmt.Sprintf("Lỗi ghi hình / recording write error: %v", err)})
}

// armTimer makes sure a fragment is written even when the camera stalls
// mid-fragment: after FragmentDuration + half the remaining loss budget.
func (r *Recorder) armTimer() {
	r.timerGen++
	gen := r.timerGen
	d := r.opts.FragmentDuration + (r.opts.MaxLoss-r.opts.FragmentDuration)/2
	if r.timer == nil {
		r.timer = time.AfterFunc(d, func() { r.timerFired() })
	} else {
		r.timer.Reset(d)
	}
	r.armedGen = gen
}

func (r *Recorder) timerFired() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.armedGen != r.timerGen || r.frag.Len() == 0 {
		return
	}
	r.flushFragment()
	if r.seg != nil && r.seg.Unsynced() > 0 {
		if err := r.seg.Sync(); err == nil {
			r.unsynced = 0
			r.stats.Syncs++
			r.stats.LastSynced = r.stats.LastFragmentEnd
		}
	}
}

func orParam(inBand, known []byte) []byte {
	if inBand != nil {
		return inBand
	}
	return known
}

// learnParams picks up parameter sets carried in band by a key frame. New
// ones (a camera changed its resolution or bitrate settings) end the
// segment, whose init segment described the old ones.
func (r *Recorder) learnParams(au *media.AccessUnit) {
	vps, sps, pps := media.ParamSets(r.stream.Codec, au.NALUs)
	vps, sps, pps = orParam(vps, r.stream.VPS), orParam(sps, r.stream.SPS), orParam(pps, r.stream.PPS)
	if bytes.Equal(vps, r.stream.VPS) && bytes.Equal(sps, r.stream.SPS) && bytes.Equal(pps, r.stream.PPS) {
		return
	}
	if r.seg != nil {
		r.opts.Logf("record %s: parameter sets changed, new segment", r.camera)
		r.finishSegment()
	}
	r.stream.VPS, r.stream.SPS, r.stream.PPS = bytes.Clone(vps), bytes.Clone(sps), bytes.Clone(pps)
	r.buildInit()
}

// withParams returns the key frame's NAL units with the stream's parameter
// sets in front when the camera sent them only out of band, so that every
// key frame (and every exported piece) decodes on its own.
func (r *Recorder) withParams(au *media.AccessUnit) [][]byte {
	if !au.Key {
		return au.NALUs
	}
	if _, sps, _ := media.ParamSets(r.stream.Codec, au.NALUs); sps != nil {
		return au.NALUs
	}
	r.nalus = r.nalus[:0]
	if r.stream.Codec == media.H265 {
		r.nalus = append(r.nalus, r.stream.VPS)
	}
	r.nalus = append(r.nalus, r.stream.SPS, r.stream.PPS)
	r.nalus = append(r.nalus, au.NALUs...)
	return r.nalus
}

// hasPicture tells whether au holds at least one plausible slice.
func hasPicture(codec media.Codec, au *media.AccessUnit) bool {
	for _, n := range au.NALUs {
		switch codec {
		case media.H264:
			if len(n) >= 2 && n[0]&0x80 == 0 {
				if t := n[0] & 0x1f; t >= 1 && t <= 5 {
					return true
				}
			}
		case media.H265:
			if len(n) >= 3 && n[0]&0x80 == 0 && (n[0]>>1)&0x3f <= 31 {
				return true
			}
		}
	}
	return false
}
