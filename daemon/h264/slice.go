package h264

import (
	"fmt"

	"github.com/matthan/matthan/daemon/h264/bits"
)

// Slice types (slice_type modulo 5).
const (
	SliceP  = 0
	SliceB  = 1
	SliceI  = 2
	SliceSP = 3
	SliceSI = 4
)

// SliceHeader is a parsed slice header. After ParseSliceHeader the reader
// stands at the first bit of slice_data().
type SliceHeader struct {
	NALType, NALRefIdc int
	FirstMB            int
	Type               int // SliceP, SliceB, SliceI...
	PPS                *PPS
	SPS                *SPS
	FrameNum           int
	IDRPicID           int
	POCLsb             int
	DeltaPOCBottom     int
	DirectSpatial      bool
	NumRefIdxActive    [2]int
	CABACInitIdc       int
	QP                 int
	RedundantPicCnt    int

	// First reordering command of ref_pic_list_modification per list
	// (idc 3 when none): it chooses the list's entry 0.
	FirstListMod [2]ListMod
	// All reordering commands per list (the first MaxListMods).
	NumListMods [2]int
	ListMods    [2][MaxListMods]ListMod
	// dec_ref_pic_marking()
	LongTermReference bool // IDR marked as long-term
	AdaptiveMarking   bool
	NumMMCO           int
	MMCO              [MaxMMCO]MMCO

	// pred_weight_table(), when the PPS enables explicit weighted
	// prediction for the slice's type (HasWeights): the encoder's own
	// measure of how bright this picture is against each reference.
	HasWeights bool
	Weights    PredWeights
}

// PredWeights is a slice's pred_weight_table() for the first
// MaxWeightRefs references of each list. Entries the slice does not
// signal hold the defaults (weight 1<<denom, offset 0), as 8.4.2.3 infers.
type PredWeights struct {
	LumaLog2Denom, ChromaLog2Denom int
	// Per list and reference index: luma weight and offset; Cb and Cr
	// weight and offset.
	Luma   [2][MaxWeightRefs][2]int16
	Chroma [2][MaxWeightRefs][2][2]int16
	// LumaFlag, ChromaFlag: the entry was signalled (luma_weight_l0_flag...).
	LumaFlag, ChromaFlag [2][MaxWeightRefs]bool
}

// MaxWeightRefs is the most references per list whose weights are kept.
const MaxWeightRefs = 4

// MaxListMods is the most reference list modifications kept per list.
const MaxListMods = 33

// MaxMMCO is the most memory management operations kept per slice.
const MaxMMCO = 66

// ListMod is one modification_of_pic_nums_idc and its value.
type ListMod struct {
	Idc, Val int
}

// MMCO is one memory_management_control_operation with its values.
type MMCO struct {
	Op                   int
	DiffPicNumsMinus1    int
	LongTermPicNum       int
	LongTermFrameIdx     int
	MaxLongTermFrameIdx1 int
}

// TypeChar is 'P', 'B', 'I' (or 'p'/'i' for SP/SI) for the slice type.
func (h *SliceHeader) TypeChar() byte { return "PBIpi"[h.Type] }

// ParamSets finds parameter sets by id.
type ParamSets interface {
	PPSByID(id int) *PPS
	SPSByID(id int) *SPS
}

// ParseSliceHeader reads a slice header from r, which holds the RBSP of a
// slice NAL unit after its header byte.
func ParseSliceHeader(r *bits.Reader, nalType, nalRefIdc int, ps ParamSets, h *SliceHeader) error {
	*h = SliceHeader{NALType: nalType, NALRefIdc: nalRefIdc}
	first := r.UE()
	st := r.UE()
	if st > 9 {
		return fmt.Errorf("slice header: slice_type %d out of range", st)
	}
	h.Type = int(st % 5)
	ppsID := r.UE()
	if r.Err() != nil {
		return fmt.Errorf("slice header: %w", r.Err())
	}
	if ppsID > 255 {
		return fmt.Errorf("slice header: pps id %d out of range", ppsID)
	}
	pps := ps.PPSByID(int(ppsID))
	if pps == nil {
		return fmt.Errorf("slice header: pps %d not received", ppsID)
	}
	sps := ps.SPSByID(pps.SPSID)
	if sps == nil {
		return fmt.Errorf("slice header: sps %d (of pps %d) not received", pps.SPSID, ppsID)
	}
	h.PPS, h.SPS = pps, sps
	if int(first) >= sps.WidthMB*sps.HeightMB {
		return fmt.Errorf("slice header: first_mb_in_slice %d beyond the picture's %d macroblocks", first, sps.WidthMB*sps.HeightMB)
	}
	h.FirstMB = int(first)
	if h.Type == SliceSP || h.Type == SliceSI {
		return unsupported("SP/SI slices")
	}
	h.FrameNum = int(r.U(sps.Log2MaxFrameNum))
	if !sps.FrameMBsOnly {
		return unsupported("interlaced coding")
	}
	if nalType == NALIDRSlice {
		h.IDRPicID = int(r.UE())
	}
	if sps.POCType == 0 {
		h.POCLsb = int(r.U(sps.Log2MaxPOCLsb))
		if pps.BottomFieldPicOrderPresent {
			h.DeltaPOCBottom = int(r.SE())
		}
	}
	if sps.POCType == 1 && !sps.DeltaPicOrderAlwaysZero {
		r.SE()
		if pps.BottomFieldPicOrderPresent {
			r.SE()
		}
	}
	if pps.RedundantPicCntPresent {
		h.RedundantPicCnt = int(r.UE())
	}
	if h.Type == SliceB {
		h.DirectSpatial = r.Flag()
	}
	h.NumRefIdxActive = [2]int{pps.NumRefIdxL0Default, pps.NumRefIdxL1Default}
	if h.Type == SliceP || h.Type == SliceB {
		if r.Flag() {
			h.NumRefIdxActive[0] = int(r.UE()) + 1
			if h.Type == SliceB {
				h.NumRefIdxActive[1] = int(r.UE()) + 1
			}
		}
		if h.NumRefIdxActive[0] > 32 || h.NumRefIdxActive[1] > 32 {
			return fmt.Errorf("slice header: num_ref_idx_active %v out of range", h.NumRefIdxActive)
		}
	}
	if h.Type != SliceB {
		h.NumRefIdxActive[1] = 0
	}
	if h.Type == SliceI {
		h.NumRefIdxActive[0] = 0
	}
	// ref_pic_list_modification()
	h.FirstListMod = [2]ListMod{{Idc: 3}, {Idc: 3}}
	for list := 0; list < 2; list++ {
		if (list == 0 && h.Type == SliceI) || (list == 1 && h.Type != SliceB) {
			continue
		}
		if !r.Flag() {
			continue
		}
		for i := 0; ; i++ {
			if i > 64 || r.Err() != nil {
				return fmt.Errorf("slice header: ref_pic_list_modification too long or truncated")
			}
			idc := r.UE()
			if idc == 3 {
				break
			}
			if idc > 5 {
				return fmt.Errorf("slice header: modification_of_pic_nums_idc %d out of range", idc)
			}
			v := r.UE() // abs_diff_pic_num_minus1, long_term_pic_num or abs_diff_view_idx_minus1
			if i == 0 {
				h.FirstListMod[list] = ListMod{Idc: int(idc), Val: int(v)}
			}
			if i < MaxListMods {
				h.ListMods[list][i] = ListMod{Idc: int(idc), Val: int(v)}
				h.NumListMods[list] = i + 1
			}
		}
	}
	if (pps.WeightedPred && h.Type == SliceP) || (pps.WeightedBipredIdc == 1 && h.Type == SliceB) {
		// pred_weight_table()
		h.HasWeights = true
		wt := &h.Weights
		ld, cd := r.UE(), r.UE() // ChromaArrayType is 1 here
		if ld > 7 {
			return fmt.Errorf("slice header: luma_log2_weight_denom %d out of range", ld)
		}
		if cd > 7 {
			return fmt.Errorf("slice header: chroma_log2_weight_denom %d out of range", cd)
		}
		wt.LumaLog2Denom, wt.ChromaLog2Denom = int(ld), int(cd)
		for list := 0; list < 2; list++ {
			if list == 1 && h.Type != SliceB {
				break
			}
			for i := 0; i < h.NumRefIdxActive[list]; i++ {
				lw := [2]int16{int16(1 << ld), 0}
				cw := [2][2]int16{{int16(1 << cd), 0}, {int16(1 << cd), 0}}
				lf := r.Flag()
				if lf {
					w, o := r.SE(), r.SE()
					if w < -128 || w > 127 || o < -128 || o > 127 {
						return fmt.Errorf("slice header: luma weight %d/offset %d out of range", w, o)
					}
					lw = [2]int16{int16(w), int16(o)}
				}
				cf := r.Flag()
				if cf {
					for c := 0; c < 2; c++ {
						w, o := r.SE(), r.SE()
						if w < -128 || w > 127 || o < -128 || o > 127 {
							return fmt.Errorf("slice header: chroma weight %d/offset %d out of range", w, o)
						}
						cw[c] = [2]int16{int16(w), int16(o)}
					}
				}
				if r.Err() != nil {
					return fmt.Errorf("slice header: pred_weight_table: %w", r.Err())
				}
				if i < MaxWeightRefs {
					wt.Luma[list][i], wt.Chroma[list][i] = lw, cw
					wt.LumaFlag[list][i], wt.ChromaFlag[list][i] = lf, cf
				}
			}
		}
	}
	if nalRefIdc != 0 {
		// dec_ref_pic_marking()
		if nalType == NALIDRSlice {
			r.U1() // no_output_of_prior_pics_flag
			h.LongTermReference = r.Flag()
		} else if r.Flag() {
			h.AdaptiveMarking = true
			for i := 0; ; i++ {
				if i >= MaxMMCO || r.Err() != nil {
					return fmt.Errorf("slice header: dec_ref_pic_marking too long or truncated")
				}
				op := r.UE()
				if op == 0 {
					break
				}
				m := MMCO{Op: int(op)}
				switch op {
				case 1:
					m.DiffPicNumsMinus1 = int(r.UE())
				case 2:
					m.LongTermPicNum = int(r.UE())
				case 3:
					m.DiffPicNumsMinus1 = int(r.UE())
					m.LongTermFrameIdx = int(r.UE())
				case 4:
					m.MaxLongTermFrameIdx1 = int(r.UE())
				case 5:
				case 6:
					m.LongTermFrameIdx = int(r.UE())
				default:
					return fmt.Errorf("slice header: memory_management_control_operation %d out of range", op)
				}
				h.MMCO[h.NumMMCO] = m
				h.NumMMCO++
			}
		}
	}
	if pps.CABAC && h.Type != SliceI {
		idc := r.UE()
		if idc > 2 {
			return fmt.Errorf("slice header: cabac_init_idc %d out of range", idc)
		}
		h.CABACInitIdc = int(idc)
	}
	h.QP = pps.PicInitQP + int(r.SE())
	if h.QP < 0 || h.QP > 51 {
		return fmt.Errorf("slice header: slice QP %d out of range", h.QP)
	}
	if pps.DeblockingFilterControl {
		idc := r.UE()
		if idc > 2 {
			return fmt.Errorf("slice header: disable_deblocking_filter_idc %d out of range", idc)
		}
		if idc != 1 {
			r.SE()
			r.SE()
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("slice header: %w", err)
	}
	return nil
}
