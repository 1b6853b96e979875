// Package media holds the types that flow from a camera's ingest to the
// recorder, the motion detector and the live view: one video stream and its
// access units, timed on the box's clock.
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
