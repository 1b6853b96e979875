// Package live turns a camera's access units into fragmented MP4 for the
// browser's Media Source Extensions, without transcoding. A new viewer
// starts at once from the last key frame: a camera recorded all the time
// gets the pictures since then from the segment being written (its
// GOPSource, the recorder: the page cache holds them), any other keeps them
// in the heap (sub streams: a fraction of a main stream's). Then the viewer
// follows the camera frame by frame (one fragment per picture, for low
// latency). Slow viewers skip to the next key frame instead of holding the
// camera back.
package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
)

// Timescale of the video track (90 kHz, as RTP).
const Timescale = fmp4.Timescale

// maxGOP bounds the cached fragments per camera (a broken camera that never
// sends a key frame must not eat the box's memory).
const (
	maxGOPFrames = 400
	maxGOPBytes  = 16 << 20
)

// Start describes a stream to a viewer: the MSE type and the wall-clock time
// of media time zero, so the page can show latency and the time of day.
type Start struct {
	Camera  string `json:"camera"`
	Codec   string `json:"codec"` // RFC 6381, e.g. avc1.4d401f
	MIME    string `json:"mime"`  // video/mp4; codecs="..."
	EpochMs int64  `json:"epochMs"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	// Audio is the camera's sound when the feed passes it on (SetAudio).
	Audio *media.Audio `json:"-"`
}

// Message is what a viewer receives: a Start with its init segment when a
// stream begins (also each time the camera comes back: the page then opens a
// new media timeline), one media fragment (moof+mdat), or Ended when the
// camera's stream stopped (the page shows "no signal" at once).
type Message struct {
	Start *Start
	Init  []byte
	Frag  []byte
	Key   bool
	Ended bool
	// DTS is the fragment's decode time since the stream epoch.
	DTS time.Duration
	// Audio is a piece of the camera's sound, for viewers that asked for
	// it (Hub.SubscribeAudio; see audio.go).
	Audio *AudioFrame
}

// ErrUnknownCamera is returned by Subscribe for a camera the hub never saw.
var ErrUnknownCamera = errors.New("unknown camera")

// Hub holds the live state of every camera.
type Hub struct {
	mu   sync.Mutex
	cams map[string]*Feed
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{cams: map[string]*Feed{}} }

// Feed returns the camera's tap (a media.Sink for ingest), creating it.
func (h *Hub) Feed(camera string) *Feed {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.cams[camera]
	if !ok {
		f = &Feed{camera: camera, subs: map[*Subscription]struct{}{}}
		h.cams[camera] = f
	}
	return f
}

// Subscribe starts a viewer of camera. The first messages (if the camera is
// streaming) are the Start/init and the fragments since the last key frame.
func (h *Hub) Subscribe(camera string) (*Subscription, error) {
	h.mu.Lock()
	f, ok := h.cams[camera]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("live %s: %w", camera, ErrUnknownCamera)
	}
	return f.subscribe(), nil
}

// Streaming reports whether camera has a stream with a key frame now.
func (h *Hub) Streaming(camera string) bool {
	h.mu.Lock()
	f, ok := h.cams[camera]
	h.mu.Unlock()
	if !ok {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.start != nil && f.haveKey
}

// Subscription is one viewer's queue.
type Subscription struct {
	C    chan Message
	feed *Feed
	// skipping is set when the queue overflowed: fragments are dropped
	// until the next key frame.
	skipping bool
	closed   bool
	// audio: the viewer takes the camera's sound (SubscribeAudio);
	// soundOnly: nothing else (SubscribeSound).
	audio, soundOnly bool
}

// Close stops the subscription.
func (s *Subscription) Close() {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	if !s.closed {
		s.closed = true
		delete(s.feed.subs, s)
		close(s.C)
		if len(s.feed.subs) == 0 && s.feed.source != nil {
			// Nobody watches: the builder's arena (a key frame's size) and
			// the GOP arena are not kept for the next viewer.
			s.feed.fb = fmp4.FragmentBuilder{}
			s.feed.gop.free()
		}
	}
}

// Next waits for the next message.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	select {
	case m, ok := <-s.C:
		if !ok {
			return Message{}, errors.New("live: subscription closed")
		}
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// Feed is one camera's tap: it implements media.Sink.
//
// It runs for every camera all the time, watched or not, so a picture costs
// no allocation once warm: the fragment is built by a reused
// fmp4.FragmentBuilder straight into the GOP arena (see gopCache), and the
// viewers receive sub-slices of that arena.
type Feed struct {
	camera string

	mu     sync.Mutex
	stream media.Stream
	start  *Start
	init   []byte
	seq    uint32
	fb     fmp4.FragmentBuilder
	gop    gopCache
	lastD  time.Duration // last frame duration, used for the newest frame
	lastDT time.Duration
	hasDT  bool
	// announced: this stream's Start went to the viewers already. A
	// stream that restarts with the same parameter sets (a camera back
	// from an outage, its SDP unchanged) must announce itself again: its
	// times start over, so the viewers need a new init and timeline.
	announced bool
	subs      map[*Subscription]struct{}
	// audio: the camera's sound goes to viewers that ask (SetAudio).
	audio bool

	// The current GOP, counted (its pictures are in gop when there is no
	// source, else only in the source).
	source   GOPSource
	haveKey  bool
	keyDTS   time.Duration
	gopCount int
}

// GOPSource gives a new viewer the pictures since the last key frame from
// somewhere else than the heap: the recorder reads them back from the
// segment it is writing (see record.Recorder.ReadGOP). ReadGOP calls fn,
// in decode order, for each picture from the last key frame on with a DTS
// of at most upto; data (4-byte length-prefixed NAL units) is valid only
// during the call. It returns how many pictures it gave.
type GOPSource interface {
	ReadGOP(upto time.Duration, fn func(dts, cto time.Duration, key bool, data []byte)) (int, error)
}

// Catching up from a source that is a little behind the live feed (the
// recorder's queue) is tried this many times, this far apart; then the
// viewer waits for the next key frame.
const (
	catchUpTries = 4
	catchUpWait  = 30 * time.Millisecond
)

// SetSource makes the feed keep no GOP of its own: a new viewer's first
// pictures come from src. Without a source (or when it has not got the
// whole GOP) the feed keeps the GOP in memory (sub streams, which are not
// recorded) or the viewer starts at the next key frame.
func (f *Feed) SetSource(src GOPSource) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.source = src
	f.gop.free()
}

// gopCache keeps the fragments since the last key frame back to back in one
// byte arena, with their offsets. Fragments handed to viewers are slices of
// the arena, so once one was sent (shared) the arena is never written over:
// the next GOP starts a fresh one, and the viewers' slices keep the old one
// alive until they are done. Without viewers the arena is reused in place.
//
// The arena is sized to the stream: the next GOP's arena is the last GOP's
// size plus a quarter, and an arena more than twice that (after a spike, or
// a scene that calmed down) is given back at the next key frame. The first
// GOP of a stream, of unknown size, grows by doubling and is trimmed after.
type gopCache struct {
	buf    []byte
	frags  []fragRef
	shared bool
	want   int // arena capacity for the next GOP (0: not known yet)
}

type fragRef struct {
	start, end int
	dts        time.Duration
	key        bool
}

// minGOPArena is the smallest arena kept (a 360p GOP of a quiet scene).
const minGOPArena = 64 << 10

// restart empties the cache for a new GOP.
func (g *gopCache) restart() {
	first := g.want == 0 // the first GOP's arena grew by doubling: trim it
	if n := len(g.buf); n > 0 {
		g.want = max(n+n/4, minGOPArena)
	}
	if g.shared || cap(g.buf) > 2*g.want || first && cap(g.buf) > g.want {
		g.buf = nil // allocated at the first fragment, g.want bytes
	} else {
		g.buf = g.buf[:0]
	}
	g.frags = g.frags[:0]
	g.shared = false
}

// free gives the memory back (stream over).
func (g *gopCache) free() { *g = gopCache{} }

// fits reports whether a fragment of n more bytes may be cached.
func (g *gopCache) fits(n int) bool {
	return len(g.frags) < maxGOPFrames && len(g.buf)+n < maxGOPBytes
}

// add appends the fragment hdr+payload and returns it, a slice of the
// arena whose capacity ends with it (a viewer appending to it copies).
func (g *gopCache) add(hdr, payload []byte, key bool, dts time.Duration) []byte {
	n := len(hdr) + len(payload)
	if need := len(g.buf) + n; need > cap(g.buf) {
		grown := need + need/4
		if g.want == 0 {
			grown = max(2*need, minGOPArena) // first GOP: size unknown, double
		}
		b := make([]byte, len(g.buf), max(grown, g.want))
		copy(b, g.buf)
		g.buf = b
	}
	start := len(g.buf)
	g.buf = append(append(g.buf, hdr...), payload...)
	end := len(g.buf)
	g.frags = append(g.frags, fragRef{start: start, end: end, dts: dts, key: key})
	return g.buf[start:end:end]
}

// message is the viewer's message for cached fragment i; the arena becomes
// shared.
func (g *gopCache) message(i int) Message {
	r := g.frags[i]
	g.shared = true
	return Message{Frag: g.buf[r.start:r.end:r.end], Key: r.key, DTS: r.dts}
}

var _ media.Sink = (*Feed)(nil)

const queueLen = 256

func (f *Feed) subscribe() *Subscription {
	s := &Subscription{C: make(chan Message, queueLen+maxGOPFrames), feed: f}
	for try := 1; ; try++ {
		f.mu.Lock()
		if f.source == nil || f.start == nil || !f.haveKey {
			break
		}
		msgs := f.catchUpLocked()
		if msgs == nil && try < catchUpTries {
			f.mu.Unlock()
			time.Sleep(catchUpWait)
			continue
		}
		st := *f.start
		s.C <- Message{Start: &st, Init: f.init}
		for _, m := range msgs {
			s.C <- m
		}
		s.skipping = msgs == nil // from the next key frame
		f.subs[s] = struct{}{}
		f.mu.Unlock()
		return s
	}
	defer f.mu.Unlock()
	if f.start != nil && len(f.gop.frags) > 0 {
		st := *f.start
		s.C <- Message{Start: &st, Init: f.init}
		for i := range f.gop.frags {
			s.C <- f.gop.message(i)
		}
	}
	f.subs[s] = struct{}{}
	return s
}

// catchUpLocked builds the fragments of the current GOP from the source,
// one per picture as the live feed makes them, in one arena of their own.
// It returns nil unless the source had every picture the feed has seen
// since the key frame.
func (f *Feed) catchUpLocked() []Message {
	if f.gopCount > maxGOPFrames {
		return nil
	}
	var (
		fb    fmp4.FragmentBuilder
		arena []byte
		ends  = make([]int, 0, f.gopCount)
		msgs  = make([]Message, 0, f.gopCount)
		last  time.Duration
		dur   = f.lastD
		bad   bool
		seq   = f.seq - uint32(f.gopCount)
	)
	n, err := f.source.ReadGOP(f.lastDT, func(dts, cto time.Duration, key bool, data []byte) {
		if bad || len(msgs) == 0 && (!key || dts != f.keyDTS) || len(msgs) >= f.gopCount {
			bad = true
			return
		}
		if len(msgs) > 0 {
			if d := dts - last; d > 0 && d < 2*time.Second {
				dur = d
			}
		}
		last = dts
		seq++
		fb.Reset()
		fb.AddSample(data, fmp4.Sample{Duration: uint32(durTicks(dur)), PTSOffset: int32(durTicks(cto)), Key: key})
		arena = append(append(arena, fb.Header(seq, uint64(max(0, durTicks(dts))))...), fb.Payload()...)
		ends = append(ends, len(arena))
		msgs = append(msgs, Message{Key: key, DTS: dts})
	})
	if err != nil || bad || n != f.gopCount || last != f.lastDT {
		return nil
	}
	start := 0
	for i, end := range ends {
		msgs[i].Frag = arena[start:end:end]
		start = end
	}
	return msgs
}

// broadcastLocked queues m to every viewer; it reports whether any took it.
func (f *Feed) broadcastLocked(m Message) (sent bool) {
	for s := range f.subs {
		if m.Audio != nil && !s.audio || m.Audio == nil && s.soundOnly {
			continue
		}
		if s.soundOnly { // sound is dropped when it overflows: no key frame to wait for
			select {
			case s.C <- m:
			default:
			}
			continue
		}
		if s.skipping {
			if !m.Key && m.Start == nil && !m.Ended {
				continue
			}
			s.skipping = false
		}
		select {
		case s.C <- m:
			sent = true
		default:
			s.skipping = true
		}
	}
	return sent
}

// StreamStarted implements media.Sink.
func (f *Feed) StreamStarted(st media.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stream = st
	f.start, f.init, f.hasDT, f.announced = nil, nil, false, false
	f.haveKey, f.gopCount = false, 0
	f.gop.free()
	f.lastD = 40 * time.Millisecond
	if st.Codec != media.H264 && st.Codec != media.H265 {
		return fmt.Errorf("live %s: codec %v cannot be shown in a browser", st.Camera, st.Codec)
	}
	if len(st.SPS) > 0 && len(st.PPS) > 0 && (st.Codec == media.H264 || len(st.VPS) > 0) {
		if err := f.makeInitLocked(st.VPS, st.SPS, st.PPS); err != nil {
			return err
		}
	}
	return nil
}

func (f *Feed) makeInitLocked(vps, sps, pps []byte) error {
	info, err := fmp4.ParseSPS(f.stream.Codec, sps)
	if err != nil {
		return fmt.Errorf("live %s: %w", f.camera, err)
	}
	codecStr, w, h := info.Codec, info.Width, info.Height
	init, err := fmp4.InitSegment(media.Stream{Codec: f.stream.Codec, VPS: vps, SPS: sps, PPS: pps})
	if err != nil {
		return fmt.Errorf("live %s: init segment: %w", f.camera, err)
	}
	f.init = init
	f.start = &Start{Camera: f.camera, Codec: codecStr, MIME: `video/mp4; codecs="` + codecStr + `"`,
		EpochMs: f.stream.Epoch.UnixMilli(), Width: w, Height: h, Audio: f.liveAudio()}
	return nil
}

// WriteAccessUnit implements media.Sink.
func (f *Feed) WriteAccessUnit(au *media.AccessUnit) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if au.Key {
		// Parameter sets in band (in front of the key frame) win over the SDP's.
		vps, sps, pps := f.paramsInBand(au.NALUs)
		if sps != nil && pps != nil && (f.stream.Codec == media.H264 || vps != nil) {
			if f.start == nil || !equalParams(f.init, sps, pps) {
				if err := f.makeInitLocked(vps, sps, pps); err != nil {
					return err
				}
				f.announced = false
			}
		}
		if f.start != nil && !f.announced {
			f.gop.restart()
			f.haveKey, f.gopCount = false, 0
			st := *f.start
			f.broadcastLocked(Message{Start: &st, Init: f.init})
			f.announced = true
		}
	}
	if f.start == nil {
		return nil // nothing to show until parameter sets are known
	}
	if f.hasDT {
		if d := au.DTS - f.lastDT; d > 0 && d < 2*time.Second {
			f.lastD = d
		}
	}
	f.lastDT, f.hasDT = au.DTS, true
	if !au.Key && !f.haveKey {
		return nil // wait for the first key frame
	}
	if au.Key {
		f.gop.restart()
		f.haveKey, f.keyDTS, f.gopCount = true, au.DTS, 0
	}
	f.gopCount++
	f.seq++
	watched := len(f.subs) > 0
	if !watched && (f.source != nil || !f.gop.fits(0)) {
		return nil // nobody would see it: not even built
	}
	f.fb.Reset()
	f.fb.AddNALUs(f.stream.Codec, au.NALUs, fmp4.Sample{
		Duration:  uint32(durTicks(f.lastD)),
		PTSOffset: int32(durTicks(au.PTS - au.DTS)),
		Key:       au.Key,
	})
	hdr := f.fb.Header(f.seq, uint64(max(0, durTicks(au.DTS))))
	payload := f.fb.Payload()
	var frag []byte
	// With a source, the arena serves only while someone watches (the
	// fragments are built in place, one allocation a GOP, not a picture);
	// it is given back when the last viewer leaves.
	cached := (f.source == nil || watched) && f.gop.fits(len(hdr)+len(payload))
	switch {
	case cached:
		frag = f.gop.add(hdr, payload, au.Key, au.DTS)
	case watched: // over the cache's bounds (a broken camera): a copy of its own
		frag = append(append(make([]byte, 0, len(hdr)+len(payload)), hdr...), payload...)
	default:
		return nil
	}
	if f.broadcastLocked(Message{Frag: frag, Key: au.Key, DTS: au.DTS}) && cached {
		f.gop.shared = true
	}
	return nil
}

func durTicks(d time.Duration) int64 { return int64(d) * Timescale / int64(time.Second) }

func (f *Feed) paramsInBand(nalus [][]byte) (vps, sps, pps []byte) {
	return media.ParamSets(f.stream.Codec, nalus)
}

// equalParams reports whether the init segment already carries sps and pps.
func equalParams(init, sps, pps []byte) bool {
	return bytes.Contains(init, sps) && bytes.Contains(init, pps)
}

// StreamEnded implements media.Sink.
func (f *Feed) StreamEnded(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.start, f.init, f.announced = nil, nil, false
	f.haveKey, f.gopCount = false, 0
	f.gop.free()
	f.fb = fmp4.FragmentBuilder{}
	f.broadcastLocked(Message{Ended: true})
}
