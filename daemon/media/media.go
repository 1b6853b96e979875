// Package media holds the types that flow from a camera's ingest to the
// recorder, the motion detector and the live view: one video stream and its
// access units, and its audio units when the camera sends sound, timed on
// the box's clock.
package media

import (
	"time"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h265"
)

// Codec is the video codec of a stream.
type Codec int

const (
	H264 Codec = iota + 1
	H265
)

func (c Codec) String() string {
	switch c {
	case H264:
		return "H264"
	case H265:
		return "H265"
	}
	return "unknown"
}

// Stream describes one connection's video track. A new Stream starts at
// every (re)connect; its Epoch anchors the access units' timestamps to the
// box's wall clock.
type Stream struct {
	Camera string
	Codec  Codec
	// Epoch is the box wall-clock time at which DTS == 0.
	Epoch time.Time
	// Parameter sets as last seen (from the SDP or in band). VPS is H.265 only.
	VPS, SPS, PPS []byte
	Width, Height int
	// Audio is the camera's audio track, nil without one (AudioSink).
	Audio *Audio
}

// AccessUnit is one picture: all NAL units (without start codes or length
// prefixes) that belong to it. Key frames carry the parameter sets in front.
type AccessUnit struct {
	// DTS and PTS are offsets from Stream.Epoch on the box clock; DTS never
	// decreases within a stream.
	DTS, PTS time.Duration
	// Key is true for an IDR (H.264) or IRAP (H.265) picture.
	Key   bool
	NALUs [][]byte
}

// CopyTo makes dst a copy of au that owns its bytes: au's NAL units, each
// cut to its first limit bytes when limit > 0, go one after the other into
// buf (reused when it is large enough), and dst's NAL units point into it.
// It returns the buffer, to hand back on the next call.
func (au *AccessUnit) CopyTo(dst *AccessUnit, buf []byte, limit int) []byte {
	size := 0
	for _, n := range au.NALUs {
		if limit > 0 {
			size += min(len(n), limit)
		} else {
			size += len(n)
		}
	}
	if cap(buf) < size {
		buf = make([]byte, 0, size+size/4)
	}
	buf = buf[:0]
	dst.DTS, dst.PTS, dst.Key = au.DTS, au.PTS, au.Key
	dst.NALUs = dst.NALUs[:0]
	for _, n := range au.NALUs {
		if limit > 0 && len(n) > limit {
			n = n[:limit]
		}
		start := len(buf)
		buf = append(buf, n...)
		dst.NALUs = append(dst.NALUs, buf[start:len(buf):len(buf)])
	}
	return buf
}

// Sink receives a camera's video. Calls for one camera come from one
// goroutine, in order: StreamStarted, WriteAccessUnit..., StreamEnded.
type Sink interface {
	StreamStarted(s Stream) error
	// WriteAccessUnit may keep au only until it returns; the NALU bytes are
	// reused by the caller afterwards.
	WriteAccessUnit(au *AccessUnit) error
	StreamEnded(err error)
}

// ParamSets returns the last VPS, SPS and PPS among an access unit's NAL
// units (nil where it carries none; VPS: H.265 only).
func ParamSets(codec Codec, nalus [][]byte) (vps, sps, pps []byte) {
	typ := h264.NALType
	tVPS, tSPS, tPPS := -2, h264.NALSPS, h264.NALPPS // no NAL type is -2
	switch codec {
	case H264:
	case H265:
		typ, tVPS, tSPS, tPPS = h265.NALType, h265.NALVPS, h265.NALSPS, h265.NALPPS
	default:
		return nil, nil, nil
	}
	for _, n := range nalus {
		switch typ(n) {
		case tVPS:
			vps = n
		case tSPS:
			sps = n
		case tPPS:
			pps = n
		}
	}
	return vps, sps, pps
}
