package mb

// Macroblock categories after mb_type.
const (
	catI4x4 = iota // I_NxN (4x4 or 8x8 transform)
	catI16x16
	catPCM
	catInter
	catSkip // P_Skip or B_Skip
)

// Partition shapes.
const (
	shape16x16 = iota
	shape16x8
	shape8x16
	shape8x8
)

// Prediction list flags of a partition.
const (
	predL0 = 1
	predL1 = 2
	predBi = 3
)

// mbDesc describes an mb_type.
type mbDesc struct {
	cat    uint8
	shape  uint8
	pred   [2]uint8 // per partition (16x16 uses [0])
	direct bool     // B_Direct_16x16 / B_Skip
	ref0   bool     // P_8x8ref0
	// Intra_16x16 only:
	cbpLuma, cbpChroma uint8
}

func intraDesc(t int) (mbDesc, bool) {
	switch {
	case t == 0:
		return mbDesc{cat: catI4x4}, true
	case t <= 24:
		d := mbDesc{cat: catI16x16, cbpChroma: uint8((t - 1) / 4 % 3)}
		if t >= 13 {
			d.cbpLuma = 15
		}
		return d, true
	case t == 25:
		return mbDesc{cat: catPCM}, true
	}
	return mbDesc{}, false
}

var pTypes = [5]mbDesc{
	{cat: catInter, shape: shape16x16, pred: [2]uint8{predL0}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predL0, predL0}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predL0, predL0}},
	{cat: catInter, shape: shape8x8},
	{cat: catInter, shape: shape8x8, ref0: true},
}

var bTypes = [23]mbDesc{
	{cat: catInter, shape: shape16x16, direct: true},
	{cat: catInter, shape: shape16x16, pred: [2]uint8{predL0}},
	{cat: catInter, shape: shape16x16, pred: [2]uint8{predL1}},
	{cat: catInter, shape: shape16x16, pred: [2]uint8{predBi}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predL0, predL0}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predL0, predL0}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predL1, predL1}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predL1, predL1}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predL0, predL1}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predL0, predL1}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predL1, predL0}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predL1, predL0}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predL0, predBi}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predL0, predBi}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predL1, predBi}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predL1, predBi}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predBi, predL0}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predBi, predL0}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predBi, predL1}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predBi, predL1}},
	{cat: catInter, shape: shape16x8, pred: [2]uint8{predBi, predBi}},
	{cat: catInter, shape: shape8x16, pred: [2]uint8{predBi, predBi}},
	{cat: catInter, shape: shape8x8},
}

// subDesc describes a sub_mb_type: partitions of the 8x8 block as
// (width, height) in 4x4 blocks, and its prediction lists (0 = direct).
type subDesc struct {
	n, w, h int
	pred    uint8
}

var pSubTypes = [4]subDesc{
	{1, 2, 2, predL0}, {2, 2, 1, predL0}, {2, 1, 2, predL0}, {4, 1, 1, predL0},
}

var bSubTypes = [13]subDesc{
	{4, 1, 1, 0}, // B_Direct_8x8 (motion per 4x4 or 8x8, no syntax)
	{1, 2, 2, predL0}, {1, 2, 2, predL1}, {1, 2, 2, predBi},
	{2, 2, 1, predL0}, {2, 1, 2, predL0}, {2, 2, 1, predL1}, {2, 1, 2, predL1},
	{2, 2, 1, predBi}, {2, 1, 2, predBi},
	{4, 1, 1, predL0}, {4, 1, 1, predL1}, {4, 1, 1, predBi},
}

// Coded block pattern from me(v) code numbers, 4:2:0 (Table 9-4).
var cbpIntra = [48]uint8{
	47, 31, 15, 0, 23, 27, 29, 30, 7, 11, 13, 14, 39, 43, 45, 46,
	16, 3, 5, 10, 12, 19, 21, 26, 28, 35, 37, 42, 44, 1, 2, 4,
	8, 17, 18, 20, 24, 6, 9, 22, 25, 32, 33, 34, 36, 40, 38, 41,
}

var cbpInter = [48]uint8{
	0, 16, 1, 2, 4, 8, 32, 3, 5, 10, 12, 15, 47, 7, 11, 13,
	14, 6, 9, 31, 35, 37, 42, 44, 33, 34, 36, 40, 39, 43, 45, 46,
	17, 18, 20, 24, 19, 21, 26, 28, 23, 27, 29, 30, 22, 25, 38, 41,
}

// blkXY maps luma4x4BlkIdx to the raster position (y*4+x) of the block.
var blkRaster = [16]uint8{0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15}

// rasterBlk maps a raster position (y*4+x) to luma4x4BlkIdx.
var rasterBlk = [16]uint8{0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15}
