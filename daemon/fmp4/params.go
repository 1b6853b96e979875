package fmp4

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/matthan/matthan/daemon/media"
)

// ParamInfo is what the init segment needs from a stream's parameter sets.
type ParamInfo struct {
	Width, Height int
	// H.265 only: the 12 bytes of general profile/tier/level as in hvcC.
	ProfileTierLevel                             [12]byte
	ChromaFormat, BitDepthLuma8, BitDepthChroma8 byte
	TemporalLayers, TemporalNested               byte
}

// ParseParams checks that s has the parameter sets its codec needs and reads
// picture size and profile from its SPS.
func ParseParams(s media.Stream) (ParamInfo, error) {
	var info ParamInfo
	switch s.Codec {
	case media.H264:
		if len(s.SPS) < 4 || len(s.PPS) < 1 {
			return info, fmt.Errorf("fmp4: H.264 stream without SPS/PPS")
		}
		var sps h264.SPS
		if err := sps.Unmarshal(s.SPS); err == nil {
			info.Width, info.Height = sps.Width(), sps.Height()
		} else {
			info.Width, info.Height = s.Width, s.Height
		}
	case media.H265:
		if len(s.VPS) < 1 || len(s.SPS) < 3 || len(s.PPS) < 1 {
			return info, fmt.Errorf("fmp4: H.265 stream without VPS/SPS/PPS")
		}
		rbsp := unescapeRBSP(s.SPS[2:], 16)
		if len(rbsp) < 13 {
			return info, fmt.Errorf("fmp4: H.265 SPS too short (%d bytes)", len(s.SPS))
		}
		copy(info.ProfileTierLevel[:], rbsp[1:13])
		info.TemporalLayers = (rbsp[0]>>1)&7 + 1
		info.TemporalNested = rbsp[0] & 1
		info.ChromaFormat = 1
		var sps h265.SPS
		if err := sps.Unmarshal(s.SPS); err == nil {
			info.Width, info.Height = sps.Width(), sps.Height()
			info.ChromaFormat = byte(sps.ChromaFormatIdc)
			info.BitDepthLuma8 = byte(sps.BitDepthLumaMinus8)
			info.BitDepthChroma8 = byte(sps.BitDepthChromaMinus8)
		} else {
			info.Width, info.Height = s.Width, s.Height
		}
	default:
		return info, fmt.Errorf("%w: %v", ErrUnsupported, s.Codec)
	}
	if info.Width <= 0 || info.Height <= 0 || info.Width > 0xffff || info.Height > 0xffff {
		return info, fmt.Errorf("fmp4: %v stream: picture size %dx%d unknown or invalid", s.Codec, info.Width, info.Height)
	}
	return info, nil
}

// unescapeRBSP removes emulation prevention bytes from the first max bytes
// of the payload of a NAL unit.
func unescapeRBSP(b []byte, max int) []byte {
	out := make([]byte, 0, max)
	zeros := 0
	for _, c := range b {
		if len(out) >= max {
			break
		}
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}
