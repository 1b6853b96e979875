package h264

import (
	"fmt"

	"github.com/matthan/matthan/daemon/h264/bits"
)

// PPS is a picture parameter set, reduced to what parsing slices needs.
type PPS struct {
	ID                         int
	SPSID                      int
	CABAC                      bool
	BottomFieldPicOrderPresent bool
	NumRefIdxL0Default         int
	NumRefIdxL1Default         int
	WeightedPred               bool
	WeightedBipredIdc          int
	PicInitQP                  int
	DeblockingFilterControl    bool
	ConstrainedIntraPred       bool
	RedundantPicCntPresent     bool
	Transform8x8Mode           bool
}

// ParsePPS parses a picture parameter set RBSP (without the NAL header byte).
func ParsePPS(rbsp []byte) (*PPS, error) {
	var r bits.Reader
	r.Reset(rbsp)
	p := &PPS{}
	p.ID = int(r.UE())
	if p.ID > 255 {
		return nil, fmt.Errorf("pps: id %d out of range", p.ID)
	}
	p.SPSID = int(r.UE())
	if p.SPSID > 31 {
		return nil, fmt.Errorf("pps: sps id %d out of range", p.SPSID)
	}
	p.CABAC = r.Flag()
	p.BottomFieldPicOrderPresent = r.Flag()
	if n := r.UE() + 1; n > 1 {
		return p, unsupported("pps %d: %d slice groups (FMO)", p.ID, n)
	}
	p.NumRefIdxL0Default = int(r.UE()) + 1
	p.NumRefIdxL1Default = int(r.UE()) + 1
	if p.NumRefIdxL0Default > 32 || p.NumRefIdxL1Default > 32 {
		return nil, fmt.Errorf("pps: num_ref_idx_default %d/%d out of range", p.NumRefIdxL0Default, p.NumRefIdxL1Default)
	}
	p.WeightedPred = r.Flag()
	p.WeightedBipredIdc = int(r.U(2))
	p.PicInitQP = 26 + int(r.SE())
	r.SE() // pic_init_qs_minus26
	r.SE() // chroma_qp_index_offset
	p.DeblockingFilterControl = r.Flag()
	p.ConstrainedIntraPred = r.Flag()
	p.RedundantPicCntPresent = r.Flag()
	if r.MoreRBSPData() {
		p.Transform8x8Mode = r.Flag()
		if r.Flag() { // pic_scaling_matrix_present_flag
			n := 6
			if p.Transform8x8Mode {
				n += 2 // 4:2:0 only
			}
			skipScalingLists(&r, n)
		}
		r.SE() // second_chroma_qp_index_offset
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("pps: %w", err)
	}
	if p.PicInitQP < 0 || p.PicInitQP > 51 {
		return nil, fmt.Errorf("pps: pic_init_qp %d out of range", p.PicInitQP)
	}
	return p, nil
}
