package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/matthan/matthan/daemon/clock"
	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
)

var (
	errNoParams  = errors.New("key frame without parameter sets (neither in band nor in the SDP)")
	errBadParams = errors.New("parameter set does not parse")
	errEmptyNALU = errors.New("empty or truncated NAL unit")
	errNALUType  = errors.New("NAL unit of a type a plain camera stream does not carry")
)

// pipeline turns the access units of one connection into media.Sink calls:
// it tracks parameter sets (from the SDP and in band), waits for a key
// frame, puts the parameter sets in front of every key frame, times the
// pictures on the box clock and restarts the stream when the parameter
// sets change (new resolution).
type pipeline struct {
	camera string
	codec  media.Codec
	sink   media.Sink
	stats  *counters
	now    func() time.Time
	// skew is the box's wall clock minus its monotonic clock since the
	// stream's epoch, as of the last picture (see process).
	skew time.Duration
	slew clock.Config

	vps, sps, pps []byte // latest known parameter sets

	// Parameter sets that came alone, waiting for the key frame after them.
	pending                   bool
	pendVPS, pendSPS, pendPPS []byte

	started bool
	needKey bool
	stream  media.Stream
	slewer  *clock.Slewer

	au  media.AccessUnit
	out [][]byte

	// onWritten is called after each access unit the sink accepted.
	onWritten func(now time.Time)
}

func newPipeline(camera string, codec media.Codec, sink media.Sink, st *counters, slew clock.Config) *pipeline {
	return &pipeline{camera: camera, codec: codec, sink: sink, stats: st, now: time.Now, slew: slew, needKey: true}
}

// setParams records parameter sets (from the SDP); nil ones are ignored.
func (p *pipeline) setParams(vps, sps, pps []byte) {
	if len(vps) > 0 {
		p.vps = bytes.Clone(vps)
	}
	if len(sps) > 0 {
		p.sps = bytes.Clone(sps)
	}
	if len(pps) > 0 {
		p.pps = bytes.Clone(pps)
	}
}

// naluKind classifies a NAL unit.
type naluKind int

const (
	kindOther naluKind = iota
	kindKey
	kindVPS
	kindSPS
	kindPPS
	kindDrop // access unit delimiter, filler: the muxer does not want them
	kindBad  // reserved or extension types: garbage, or a stream we cannot record
)

func (p *pipeline) kind(n []byte) naluKind {
	if p.codec == media.H265 {
		switch t := (n[0] >> 1) & 0x3f; {
		case t >= 16 && t <= 21:
			return kindKey
		case t == 32:
			return kindVPS
		case t == 33:
			return kindSPS
		case t == 34:
			return kindPPS
		case t == 35 || t == 38:
			return kindDrop
		case t <= 9 || t == 36 || t == 37 || t == 39 || t == 40:
			return kindOther
		}
		return kindBad
	}
	switch t := n[0] & 0x1f; t {
	case 5:
		if n[0]&0x60 == 0 {
			return kindBad // an IDR picture is always a reference picture
		}
		return kindKey
	case 7:
		return kindSPS
	case 8:
		return kindPPS
	case 9, 12:
		return kindDrop
	case 1, 6, 10, 11:
		return kindOther
	}
	return kindBad
}

func orBytes(a, b []byte) []byte {
	if len(a) > 0 {
		return a
	}
	return b
}

func updateParam(dst *[]byte, n []byte) {
	if !bytes.Equal(*dst, n) {
		*dst = append((*dst)[:0:0], n...)
	}
}

// accessUnit handles one complete access unit with RTP timestamp ts.
// It returns a non-nil error when the unit was dropped.
func (p *pipeline) accessUnit(ts uint32, nalus [][]byte) error {
	minLen := 1
	if p.codec == media.H265 {
		minLen = 2
	}
	key := false
	var vps, sps, pps []byte // in band, in this unit
	p.out = p.out[:0]
	for _, n := range nalus {
		if len(n) < minLen {
			p.needKey = true
			return errEmptyNALU
		}
		switch p.kind(n) {
		case kindKey:
			key = true
			p.out = append(p.out, n)
		case kindVPS:
			vps = n
		case kindSPS:
			sps = n
		case kindPPS:
			pps = n
		case kindDrop:
		case kindBad:
			p.needKey = true
			return errNALUType
		default:
			p.out = append(p.out, n)
		}
	}
	// In-band parameter sets count only next to a key frame: with the key
	// frame in this unit, or alone in the unit just before it. Anywhere
	// else they are more likely garbage than a camera's new settings, and
	// a wrong PPS would spoil every segment after it.
	if vps != nil || sps != nil || pps != nil {
		if len(p.out) == 0 {
			p.pendVPS = append(p.pendVPS[:0], vps...)
			p.pendSPS = append(p.pendSPS[:0], sps...)
			p.pendPPS = append(p.pendPPS[:0], pps...)
			p.pending = true
			return nil
		}
		if !key {
			vps, sps, pps = nil, nil, nil
		}
	}
	if key && p.pending {
		vps = orBytes(vps, p.pendVPS)
		sps = orBytes(sps, p.pendSPS)
		pps = orBytes(pps, p.pendPPS)
	}
	p.pending = false
	if len(p.out) == 0 {
		return nil // delimiters only
	}
	if key {
		if len(vps) > 0 {
			updateParam(&p.vps, vps)
		}
		if len(sps) > 0 {
			updateParam(&p.sps, sps)
		}
		if len(pps) > 0 {
			updateParam(&p.pps, pps)
		}
	}
	if !key {
		if p.needKey {
			p.stats.waitKeyDrops.Add(1)
			return nil
		}
	} else {
		if err := p.keyFrame(); err != nil {
			p.needKey = true
			return err
		}
		// Parameter sets go in front of every key frame.
		n := len(p.out)
		if p.codec == media.H265 {
			p.out = append(p.out, nil, nil, nil)
			copy(p.out[3:], p.out[:n])
			p.out[0], p.out[1], p.out[2] = p.vps, p.sps, p.pps
		} else {
			p.out = append(p.out, nil, nil)
			copy(p.out[2:], p.out[:n])
			p.out[0], p.out[1] = p.sps, p.pps
		}
	}

	now := p.now()
	wall := wallSince(now, p.stream.Epoch)
	// The box's clock stepped since the last picture: the wall clock moved
	// against Go's monotonic one. The stream moves with it at once.
	if skew := wall - now.Sub(p.stream.Epoch); skew-p.skew > time.Second {
		p.slewer.Step(skew - p.skew)
		p.skew = skew
	} else if skew < p.skew {
		p.skew = skew
	}
	dts := p.slewer.Map(ts, wall)
	p.au.DTS, p.au.PTS, p.au.Key, p.au.NALUs = dts, dts, key, p.out
	var size int
	for _, n := range p.out {
		size += len(n)
	}
	if err := p.sink.WriteAccessUnit(&p.au); err != nil {
		p.stats.sinkErrors.Add(1)
		p.au.NALUs = nil
		return fmt.Errorf("recorder: %w", err)
	}
	p.au.NALUs = nil
	p.stats.accessUnits.Add(1)
	p.stats.videoBytes.Add(uint64(size))
	if key {
		p.stats.keyFrames.Add(1)
	}
	if p.onWritten != nil {
		p.onWritten(now)
	}
	return nil
}

// keyFrame makes sure a stream with the current parameter sets has started.
func (p *pipeline) keyFrame() error {
	if len(p.sps) == 0 || len(p.pps) == 0 || (p.codec == media.H265 && len(p.vps) == 0) {
		return errNoParams
	}
	if p.started && bytes.Equal(p.sps, p.stream.SPS) && bytes.Equal(p.pps, p.stream.PPS) && bytes.Equal(p.vps, p.stream.VPS) {
		p.needKey = false
		return nil
	}
	w, h, err := p.dimensions()
	if err != nil {
		return err
	}
	if p.started {
		p.sink.StreamEnded(nil) // new parameter sets: a new stream for the muxer
		p.started = false
	}
	s := media.Stream{
		Camera: p.camera,
		Codec:  p.codec,
		Epoch:  p.now(),
		SPS:    bytes.Clone(p.sps),
		PPS:    bytes.Clone(p.pps),
		Width:  w,
		Height: h,
	}
	if p.codec == media.H265 {
		s.VPS = bytes.Clone(p.vps)
	}
	if err := p.sink.StreamStarted(s); err != nil {
		p.stats.sinkErrors.Add(1)
		return fmt.Errorf("recorder refused the stream: %w", err)
	}
	p.stream = s
	p.started = true
	p.needKey = false
	p.slewer = clock.NewSlewer(p.slew)
	p.skew = 0
	return nil
}

func (p *pipeline) dimensions() (w, h int, err error) {
	info, err := fmp4.ParseSPS(p.codec, p.sps)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errBadParams, err)
	}
	return info.Width, info.Height, nil
}

// end finishes the stream when the connection ends.
func (p *pipeline) end(err error) {
	if p.started {
		p.sink.StreamEnded(err)
		p.started = false
	}
	p.needKey = true
}

// wallSince is now - epoch on the box's wall clock, not Go's monotonic
// one: when the box's clock is stepped or slewed (daemon/timesync), the
// box's time is the truth the camera's is slewed onto, so a stream follows
// the step (its slewer re-anchors) instead of keeping the time it started
// with until it reconnects.
func wallSince(now, epoch time.Time) time.Duration { return now.Round(0).Sub(epoch.Round(0)) }
