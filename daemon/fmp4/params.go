package fmp4

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	nal "github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/media"
)

// SPSInfo is what a sequence parameter set says, read by mediacommon's
// parsers. ParseSPS is the daemon's one way to read an SPS (ingest, live
// view, init segments); only the macroblock parser (daemon/h264) reads the
// rest it needs with its own.
type SPSInfo struct {
	Width, Height int
	// Codec is the RFC 6381 codecs parameter, e.g. avc1.4d401f or
	// hvc1.1.6.L93.B0, as a browser's MediaSource wants it.
	Codec string
	// H.265 only.
	ChromaFormat, BitDepthLuma8, BitDepthChroma8 byte
}

// ParseSPS reads an SPS NAL unit (header included) of an H.264 or H.265
// stream. The bytes come from cameras: a parser panic is an error.
func ParseSPS(codec media.Codec, sps []byte) (info SPSInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			info, err = SPSInfo{}, fmt.Errorf("fmp4: %v SPS: parser panic: %v", codec, r)
		}
	}()
	switch codec {
	case media.H264:
		if len(sps) < 4 {
			return info, fmt.Errorf("fmp4: H.264 SPS of %d bytes", len(sps))
		}
		var s h264.SPS
		if err := s.Unmarshal(sps); err != nil {
			return info, fmt.Errorf("fmp4: H.264 SPS: %w", err)
		}
		info.Width, info.Height = s.Width(), s.Height()
		info.Codec = fmt.Sprintf("avc1.%02x%02x%02x", sps[1], sps[2], sps[3])
	case media.H265:
		var s h265.SPS
		if err := s.Unmarshal(sps); err != nil {
			return info, fmt.Errorf("fmp4: H.265 SPS: %w", err)
		}
		info.Width, info.Height = s.Width(), s.Height()
		info.Codec = hevcCodecString(s.ProfileTierLevel)
		info.ChromaFormat = byte(s.ChromaFormatIdc)
		info.BitDepthLuma8 = byte(s.BitDepthLumaMinus8)
		info.BitDepthChroma8 = byte(s.BitDepthChromaMinus8)
	default:
		return info, fmt.Errorf("%w: %v", ErrUnsupported, codec)
	}
	return info, nil
}

// hevcCodecString builds the ISO/IEC 14496-15 codec string, e.g. hvc1.1.6.L93.B0.
func hevcCodecString(p h265.SPS_ProfileTierLevel) string {
	var compat uint32
	for i := 0; i < 32; i++ {
		if p.GeneralProfileCompatibilityFlag[i] {
			compat |= 1 << i // reversed bit order, as the spec writes it
		}
	}
	tier := 'L'
	if p.GeneralTierFlag != 0 {
		tier = 'H'
	}
	var cons byte
	if p.GeneralProgressiveSourceFlag {
		cons |= 0x80
	}
	if p.GeneralInterlacedSourceFlag {
		cons |= 0x40
	}
	if p.GeneralNonPackedConstraintFlag {
		cons |= 0x20
	}
	if p.GeneralFrameOnlyConstraintFlag {
		cons |= 0x10
	}
	return fmt.Sprintf("hvc1.%d.%X.%c%d.%X", p.GeneralProfileIdc, compat, tier, p.GeneralLevelIdc, cons)
}

// ParamInfo is what the init segment needs from a stream's parameter sets.
type ParamInfo struct {
	Width, Height int
	// H.265 only: the 12 bytes of general profile/tier/level as in hvcC.
	ProfileTierLevel                             [12]byte
	ChromaFormat, BitDepthLuma8, BitDepthChroma8 byte
	TemporalLayers, TemporalNested               byte
}

// ParseParams checks that s has the parameter sets its codec needs and reads
// picture size and profile from its SPS (ParseSPS; s.Width and s.Height
// when it does not parse).
func ParseParams(s media.Stream) (ParamInfo, error) {
	var info ParamInfo
	switch s.Codec {
	case media.H264:
		if len(s.SPS) < 4 || len(s.PPS) < 1 {
			return info, fmt.Errorf("fmp4: H.264 stream without SPS/PPS")
		}
		if sps, err := ParseSPS(s.Codec, s.SPS); err == nil {
			info.Width, info.Height = sps.Width, sps.Height
		} else {
			info.Width, info.Height = s.Width, s.Height
		}
	case media.H265:
		if len(s.VPS) < 1 || len(s.SPS) < 3 || len(s.PPS) < 1 {
			return info, fmt.Errorf("fmp4: H.265 stream without VPS/SPS/PPS")
		}
		rbsp := nal.Unescape(nil, s.SPS[2:]) // emulation prevention as in H.264
		if len(rbsp) < 13 {
			return info, fmt.Errorf("fmp4: H.265 SPS too short (%d bytes)", len(s.SPS))
		}
		copy(info.ProfileTierLevel[:], rbsp[1:13])
		info.TemporalLayers = (rbsp[0]>>1)&7 + 1
		info.TemporalNested = rbsp[0] & 1
		info.ChromaFormat = 1
		if sps, err := ParseSPS(s.Codec, s.SPS); err == nil {
			info.Width, info.Height = sps.Width, sps.Height
			info.ChromaFormat, info.BitDepthLuma8, info.BitDepthChroma8 = sps.ChromaFormat, sps.BitDepthLuma8, sps.BitDepthChroma8
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
