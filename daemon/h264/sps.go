package h264

import (
	"fmt"

	"github.com/matthan/matthan/daemon/h264/bits"
)

// MaxMacroblocks bounds the picture size this parser accepts (level 5.1's
// 36864 macroblocks, 4096x2304), which bounds its memory per stream.
const MaxMacroblocks = 36864

// SPS is a sequence parameter set, reduced to what parsing slices needs.
type SPS struct {
	ProfileIdc              int
	LevelIdc                int
	ID                      int
	ChromaFormatIdc         int
	BitDepthLuma            int
	BitDepthChroma          int
	Log2MaxFrameNum         int
	POCType                 int
	Log2MaxPOCLsb           int
	DeltaPicOrderAlwaysZero bool
	MaxNumRefFrames         int
	WidthMB                 int
	HeightMB                int // in frame macroblocks
	FrameMBsOnly            bool
	Direct8x8Inference      bool
}

func skipScalingList(r *bits.Reader, size int) {
	last, next := int32(8), int32(8)
	for j := 0; j < size; j++ {
		if next != 0 {
			delta := r.SE()
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}

// skipScalingLists skips n scaling lists, each behind its present flag:
// six 4x4 lists, then 8x8 ones (SPS seq_scaling_list_present_flag, PPS
// pic_scaling_list_present_flag).
func skipScalingLists(r *bits.Reader, n int) {
	for i := 0; i < n; i++ {
		if r.Flag() {
			if i < 6 {
				skipScalingList(r, 16)
			} else {
				skipScalingList(r, 64)
			}
		}
	}
}

// ParseSPS parses a sequence parameter set RBSP (without the NAL header
// byte). Features the macroblock parser cannot handle give an error
// wrapping ErrUnsupported. It serves the macroblock parser (mb) alone,
// which reads SPS and PPS together (mediacommon has no H.264 PPS parser)
// and must name what it cannot handle; everything else reads an SPS with
// fmp4.ParseSPS (mediacommon's parsers).
func ParseSPS(rbsp []byte) (*SPS, error) {
	var r bits.Reader
	r.Reset(rbsp)
	s := &SPS{ChromaFormatIdc: 1, BitDepthLuma: 8, BitDepthChroma: 8}
	s.ProfileIdc = int(r.U(8))
	r.U(8) // constraint flags
	s.LevelIdc = int(r.U(8))
	s.ID = int(r.UE())
	if s.ID > 31 {
		return nil, fmt.Errorf("sps: id %d out of range", s.ID)
	}
	switch s.ProfileIdc {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		s.ChromaFormatIdc = int(r.UE())
		if s.ChromaFormatIdc == 3 {
			r.U1() // separate_colour_plane_flag
		}
		s.BitDepthLuma = int(r.UE()) + 8
		s.BitDepthChroma = int(r.UE()) + 8
		r.U1() // qpprime_y_zero_transform_bypass_flag
		if r.Flag() {
			n := 8
			if s.ChromaFormatIdc == 3 {
				n = 12
			}
			skipScalingLists(&r, n)
		}
	}
	s.Log2MaxFrameNum = int(r.UE()) + 4
	if s.Log2MaxFrameNum > 16 {
		return nil, fmt.Errorf("sps: log2_max_frame_num %d out of range", s.Log2MaxFrameNum)
	}
	s.POCType = int(r.UE())
	switch s.POCType {
	case 0:
		s.Log2MaxPOCLsb = int(r.UE()) + 4
		if s.Log2MaxPOCLsb > 16 {
			return nil, fmt.Errorf("sps: log2_max_pic_order_cnt_lsb %d out of range", s.Log2MaxPOCLsb)
		}
	case 1:
		s.DeltaPicOrderAlwaysZero = r.Flag()
		r.SE()
		r.SE()
		n := r.UE()
		if n > 255 {
			return nil, fmt.Errorf("sps: num_ref_frames_in_pic_order_cnt_cycle %d out of range", n)
		}
		for i := uint32(0); i < n; i++ {
			r.SE()
		}
	case 2:
	default:
		return nil, fmt.Errorf("sps: pic_order_cnt_type %d out of range", s.POCType)
	}
	s.MaxNumRefFrames = int(r.UE())
	r.U1() // gaps_in_frame_num_value_allowed_flag
	w := r.UE() + 1
	h := r.UE() + 1
	s.FrameMBsOnly = r.Flag()
	if !s.FrameMBsOnly {
		r.U1() // mb_adaptive_frame_field_flag
		h *= 2
	}
	s.Direct8x8Inference = r.Flag()
	if w > 1024 || h > 1024 || w*h > 139264 {
		return nil, fmt.Errorf("sps: picture of %dx%d macroblocks out of range", w, h)
	}
	if w*h > MaxMacroblocks {
		return nil, unsupported("picture of %dx%d macroblocks, larger than %d (4096x2304)", w, h, MaxMacroblocks)
	}
	s.WidthMB, s.HeightMB = int(w), int(h)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("sps: %w", err)
	}
	// Frame cropping and VUI are not needed.
	switch {
	case !s.FrameMBsOnly:
		return s, unsupported("interlaced coding (frame_mbs_only_flag 0)")
	case s.ChromaFormatIdc != 1:
		return s, unsupported("chroma_format_idc %d (only 4:2:0)", s.ChromaFormatIdc)
	case s.BitDepthLuma != 8 || s.BitDepthChroma != 8:
		return s, unsupported("bit depth %d/%d (only 8)", s.BitDepthLuma, s.BitDepthChroma)
	}
	return s, nil
}
