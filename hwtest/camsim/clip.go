package camsim

import (
	"errors"
	"fmt"
	"os"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/pion/rtp"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h265"
)

// Codec is the video codec of a clip.
type Codec int

// Codecs a clip can hold.
const (
	H264 Codec = iota
	H265
)

func (c Codec) String() string {
	if c == H265 {
		return "H265"
	}
	return "H264"
}

// FrameRate is the rate the simulator plays every clip at; the clips made by
// hwtest/clips/gen.sh are 25 fps.
const FrameRate = 25

// rtpPayloadType is the dynamic payload type of every stream.
const rtpPayloadType = 96

// rtpPayloadMaxSize keeps packets under the server's default 1472-byte limit.
const rtpPayloadMaxSize = 1450

// Clip is a pre-encoded elementary stream cut into access units and
// packetized into RTP payloads once, shared read-only by every camera that
// plays it.
type Clip struct {
	Name   string
	Codec  Codec
	VPS    []byte // H.265 only
	SPS    []byte
	PPS    []byte
	Frames []Frame
}

// Frame is one access unit, packetized two ways.
type Frame struct {
	Key bool
	// InBand carries the parameter sets in front of every key frame (normal mode).
	InBand [][]byte
	// NoParams has the parameter sets stripped (sdp-only mode).
	NoParams [][]byte
}

// Format is the RTP format (with parameter sets for the SDP) of the clip.
func (c *Clip) Format() format.Format {
	if c.Codec == H265 {
		return &format.H265{PayloadTyp: rtpPayloadType, VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}
	}
	return &format.H264{PayloadTyp: rtpPayloadType, SPS: c.SPS, PPS: c.PPS, PacketizationMode: 1}
}

// Duration is how long the clip plays before it loops.
func (c *Clip) Duration() (d float64) { return float64(len(c.Frames)) / FrameRate }

// LoadClip reads an Annex-B elementary stream (.h264 or .hevc) and
// packetizes it.
func LoadClip(path string, codec Codec) (*Clip, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load clip: %w", err)
	}
	c, err := ParseClip(b, codec)
	if err != nil {
		return nil, fmt.Errorf("load clip %s: %w", path, err)
	}
	c.Name = path
	return c, nil
}

// ParseClip cuts an Annex-B elementary stream into access units and
// packetizes each into RTP payloads. The stream must start with a key frame
// and carry its parameter sets in band.
func ParseClip(annexB []byte, codec Codec) (*Clip, error) {
	var aus [][][]byte
	each := func(au [][]byte) bool {
		var kept [][]byte
		for _, n := range au {
			if len(n) >= 3 {
				kept = append(kept, n)
			}
		}
		if len(kept) > 0 {
			aus = append(aus, kept)
		}
		return true
	}
	if codec == H265 {
		h265.AccessUnits(annexB, each)
	} else {
		h264.AccessUnits(annexB, each)
	}
	// What follows the last picture (an SEI, parameter sets) is no frame.
	if n := len(aus); n > 0 && !hasPicture(codec, aus[n-1]) {
		aus = aus[:n-1]
	}
	if len(aus) == 0 {
		return nil, errors.New("no pictures (not an Annex-B stream?)")
	}
	c := &Clip{Codec: codec}
	for i, au := range aus {
		var params, rest [][]byte
		key := false
		for _, n := range au {
			switch kind := naluKind(codec, n); kind {
			case kindVPS:
				if c.VPS == nil {
					c.VPS = n
				}
			case kindSPS:
				if c.SPS == nil {
					c.SPS = n
				}
			case kindPPS:
				if c.PPS == nil {
					c.PPS = n
				}
			case kindAUD:
			default:
				if kind == kindKey {
					key = true
				}
				rest = append(rest, n)
			}
		}
		if i == 0 && !key {
			return nil, errors.New("clip does not start with a key frame")
		}
		if len(rest) == 0 {
			return nil, fmt.Errorf("access unit %d has no picture", i)
		}
		c.Frames = append(c.Frames, Frame{Key: key})
		if key {
			params = c.params()
		}
		f := &c.Frames[len(c.Frames)-1]
		var err error
		if f.NoParams, err = packetize(codec, rest); err != nil {
			return nil, fmt.Errorf("packetize access unit %d: %w", i, err)
		}
		f.InBand = f.NoParams
		if key {
			if f.InBand, err = packetize(codec, append(params, rest...)); err != nil {
				return nil, fmt.Errorf("packetize access unit %d: %w", i, err)
			}
		}
	}
	if c.SPS == nil || c.PPS == nil || (codec == H265 && c.VPS == nil) {
		return nil, errors.New("clip carries no parameter sets")
	}
	c.compact()
	return c, nil
}

// compact copies every payload and parameter set into one shared buffer,
// storing identical payloads (the two variants of a key frame share most)
// once, so the clip holds no reference to the file it was read from.
func (c *Clip) compact() {
	seen := map[string][]byte{}
	size := 0
	for _, f := range c.Frames {
		for _, v := range [][][]byte{f.InBand, f.NoParams} {
			for _, p := range v {
				if _, ok := seen[string(p)]; !ok {
					seen[string(p)] = nil
					size += len(p)
				}
			}
		}
	}
	arena := make([]byte, 0, size+len(c.VPS)+len(c.SPS)+len(c.PPS))
	store := func(p []byte) []byte {
		if q := seen[string(p)]; q != nil {
			return q
		}
		start := len(arena)
		arena = append(arena, p...)
		q := arena[start:len(arena):len(arena)]
		seen[string(p)] = q
		return q
	}
	for i := range c.Frames {
		f := &c.Frames[i]
		same := &f.InBand[0] == &f.NoParams[0]
		for j, p := range f.NoParams {
			f.NoParams[j] = store(p)
		}
		if !same {
			for j, p := range f.InBand {
				f.InBand[j] = store(p)
			}
		}
	}
	for _, ps := range []*[]byte{&c.VPS, &c.SPS, &c.PPS} {
		if *ps != nil {
			start := len(arena)
			arena = append(arena, *ps...)
			*ps = arena[start:len(arena):len(arena)]
		}
	}
}

func (c *Clip) params() [][]byte {
	if c.Codec == H265 {
		return [][]byte{c.VPS, c.SPS, c.PPS}
	}
	return [][]byte{c.SPS, c.PPS}
}

func packetize(codec Codec, au [][]byte) ([][]byte, error) {
	var ssrc uint32
	var seq uint16
	var encode func([][]byte) ([]*rtp.Packet, error)
	if codec == H265 {
		e := &rtph265.Encoder{PayloadType: rtpPayloadType, SSRC: &ssrc, InitialSequenceNumber: &seq, PayloadMaxSize: rtpPayloadMaxSize}
		if err := e.Init(); err != nil {
			return nil, err
		}
		encode = e.Encode
	} else {
		e := &rtph264.Encoder{PayloadType: rtpPayloadType, SSRC: &ssrc, InitialSequenceNumber: &seq, PayloadMaxSize: rtpPayloadMaxSize, PacketizationMode: 1}
		if err := e.Init(); err != nil {
			return nil, err
		}
		encode = e.Encode
	}
	ps, err := encode(au)
	if err != nil {
		return nil, err
	}
	pkts := make([][]byte, 0, len(ps))
	for _, p := range ps {
		pkts = append(pkts, p.Payload)
	}
	return pkts, nil
}

type naluKindT int

const (
	kindOther naluKindT = iota
	kindVPS
	kindSPS
	kindPPS
	kindAUD
	kindKey
)

func naluKind(codec Codec, n []byte) naluKindT {
	if codec == H265 {
		switch t := h265.NALType(n); {
		case t == h265.NALVPS:
			return kindVPS
		case t == h265.NALSPS:
			return kindSPS
		case t == h265.NALPPS:
			return kindPPS
		case t == h265.NALAUD:
			return kindAUD
		case h265.IsKey(t):
			return kindKey
		}
		return kindOther
	}
	switch h264.NALType(n) {
	case h264.NALSPS:
		return kindSPS
	case h264.NALPPS:
		return kindPPS
	case h264.NALAUD:
		return kindAUD
	case h264.NALIDRSlice:
		return kindKey
	}
	return kindOther
}

func hasPicture(codec Codec, au [][]byte) bool {
	for _, n := range au {
		if codec == H265 && h265.IsVCL(h265.NALType(n)) || codec == H264 && h264.NALType(n) >= h264.NALSlice && h264.NALType(n) <= h264.NALIDRSlice {
			return true
		}
	}
	return false
}
