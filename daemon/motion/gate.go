package motion

import (
	"fmt"
	"time"

	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/positive"
)

// RecordMode is how a camera records.
type RecordMode int

const (
	Continuous RecordMode = iota // everything
	OnMotion                     // motion, with pre- and post-event buffers
)

// ParseRecordMode reads "continuous" or "motion".
func ParseRecordMode(s string) (RecordMode, error) {
	switch s {
	case "continuous", "":
		return Continuous, nil
	case "motion":
		return OnMotion, nil
	}
	return 0, fmt.Errorf("motion: record mode %q is not continuous or motion", s)
}

// The gate's buffers unless a camera sets its own.
const (
	DefaultPre  = 5 * time.Second
	DefaultPost = 10 * time.Second
)

// GateConfig sets a camera's recording mode.
type GateConfig struct {
	Mode RecordMode
	// Pre is how much video before motion is kept (default 5 s); the
	// recording starts at the key frame at or before that instant.
	Pre time.Duration
	// Post is how long recording goes on after motion ends (default 10 s);
	// it stops just before the next key frame after that.
	Post time.Duration
	// MaxBuffer bounds the pre-event buffer in bytes (default 16 MiB); the
	// oldest key-frame groups go first.
	MaxBuffer int
}

// MotionState says whether motion is going on; *Detector is one.
type MotionState interface{ Active() bool }

// Gate is a media.Sink in front of the recorder. In Continuous mode it
// passes everything through. In OnMotion mode it keeps the last Pre seconds
// (whole key-frame groups) and, when motion starts, hands the recorder a
// stream that begins at a key frame: StreamStarted, the buffer, the live
// access units while motion lasts and Post after, then StreamEnded(nil)
// just before a key frame. Nothing is transcoded; each recorded burst
// starts on a key frame.
//
// The motion state must be up to date when WriteAccessUnit is called:
// put the detector's analysis in front of the gate (see Watcher).
type Gate struct {
	next   media.Sink
	motion MotionState
	cfg    GateConfig

	stream    media.Stream
	haveS     bool
	recording bool
	lastMove  time.Duration // DTS of the last access unit seen with motion
	moved     bool
	gops      [][]*media.AccessUnit
	bytes     int
	spare     [][]byte // reusable NALU buffers
}

// NewGate makes a gate in front of next.
func NewGate(next media.Sink, motion MotionState, cfg GateConfig) *Gate {
	cfg.Pre = positive.Or(cfg.Pre, DefaultPre)
	cfg.Post = positive.Or(cfg.Post, DefaultPost)
	cfg.MaxBuffer = positive.Or(cfg.MaxBuffer, 16<<20)
	return &Gate{next: next, motion: motion, cfg: cfg}
}

// Recording reports whether the gate is passing video to the recorder.
func (g *Gate) Recording() bool { return g.cfg.Mode == Continuous || g.recording }

// StreamStarted implements media.Sink.
func (g *Gate) StreamStarted(s media.Stream) error {
	g.stream, g.haveS = s, true
	g.dropBuffer()
	g.recording, g.moved = false, false
	if g.cfg.Mode == Continuous {
		return g.next.StreamStarted(s)
	}
	return nil
}

// WriteAccessUnit implements media.Sink.
func (g *Gate) WriteAccessUnit(au *media.AccessUnit) error {
	if g.cfg.Mode == Continuous {
		return g.next.WriteAccessUnit(au)
	}
	if !g.haveS {
		return fmt.Errorf("motion gate: access unit before stream start")
	}
	if g.motion != nil && g.motion.Active() {
		g.lastMove, g.moved = au.DTS, true
	}
	wanted := g.moved && au.DTS-g.lastMove < g.cfg.Post
	if g.recording {
		if !wanted && au.Key {
			g.recording = false
			g.next.StreamEnded(nil)
			g.buffer(au)
			return nil
		}
		return g.next.WriteAccessUnit(au)
	}
	g.buffer(au)
	if !wanted || len(g.gops) == 0 {
		return nil
	}
	// Motion: hand over the buffer, which starts at a key frame.
	if err := g.next.StreamStarted(g.stream); err != nil {
		return fmt.Errorf("motion gate: start recording: %w", err)
	}
	g.recording = true
	for _, gop := range g.gops {
		for _, b := range gop {
			if err := g.next.WriteAccessUnit(b); err != nil {
				g.dropBuffer()
				return fmt.Errorf("motion gate: write pre-event buffer: %w", err)
			}
		}
	}
	g.dropBuffer()
	return nil
}

// WriteAudio implements media.AudioSink: sound passes while the gate
// records (the pre-event buffer holds pictures only: a motion recording's
// sound starts when the motion does).
func (g *Gate) WriteAudio(u *media.AudioUnit) error {
	as, ok := g.next.(media.AudioSink)
	if !ok || !g.Recording() {
		return nil
	}
	return as.WriteAudio(u)
}

// StreamEnded implements media.Sink.
func (g *Gate) StreamEnded(err error) {
	if g.cfg.Mode == Continuous || g.recording {
		g.next.StreamEnded(err)
	}
	g.recording, g.haveS = false, false
	g.dropBuffer()
}

// buffer copies au into the pre-event buffer and trims it to Pre.
func (g *Gate) buffer(au *media.AccessUnit) {
	if !au.Key && len(g.gops) == 0 {
		return // no key frame yet: nothing a recording could start from
	}
	c := &media.AccessUnit{DTS: au.DTS, PTS: au.PTS, Key: au.Key, NALUs: make([][]byte, len(au.NALUs))}
	for i, n := range au.NALUs {
		var b []byte
		if k := len(g.spare); k > 0 {
			b, g.spare = g.spare[k-1][:0], g.spare[:k-1]
		}
		c.NALUs[i] = append(b, n...)
		g.bytes += len(n)
	}
	if au.Key {
		g.gops = append(g.gops, []*media.AccessUnit{c})
	} else {
		g.gops[len(g.gops)-1] = append(g.gops[len(g.gops)-1], c)
	}
	// Keep from the key frame at or before DTS-Pre, and within MaxBuffer.
	for len(g.gops) > 1 && (g.gops[1][0].DTS <= au.DTS-g.cfg.Pre || g.bytes > g.cfg.MaxBuffer) {
		g.release(g.gops[0])
		g.gops = g.gops[1:]
	}
}

func (g *Gate) release(gop []*media.AccessUnit) {
	for _, a := range gop {
		for _, n := range a.NALUs {
			g.bytes -= len(n)
			if len(g.spare) < 4096 {
				g.spare = append(g.spare, n)
			}
		}
	}
}

func (g *Gate) dropBuffer() {
	for _, gop := range g.gops {
		g.release(gop)
	}
	g.gops = nil
}
