// Package mbmap holds the per-macroblock map of one H.264 picture as the
// macroblock analyser yields it and the motion detector reads it.
package mbmap

// Kind is what a macroblock is, as far as motion is concerned.
type Kind uint8

const (
	Skip  Kind = iota // P_Skip or B_Skip/B_Direct without residual
	Inter             // predicted from another picture (P or B, not skipped)
	Intra             // I or SI macroblock inside a P/B picture, or any MB of an I picture
	PCM               // I_PCM
)

// Macroblock is one 16x16 block of a picture.
type Macroblock struct {
	Kind Kind
	// Type is the character ffmpeg's -debug mb_type prints for this block
	// (S, I, i, >, <, X, d, D, P, ...), kept for diffing against the oracle.
	Type byte
	// Partition is ffmpeg's partition character: '+' 8x8, '-' 16x8, '|' 8x16, ' ' none.
	Partition byte
	// MVX, MVY are the block's mean list-0 motion vector in quarter pixels,
	// after prediction (zero for intra and for skip with zero predictor).
	MVX, MVY int16
	// Bits is the number of bits the macroblock layer took in the slice data.
	Bits uint16
	// QP is the block's luma quantiser (slice QP plus mb_qp_delta so far).
	QP uint8
	// CBP is coded_block_pattern: bits 0-3 the luma 8x8 blocks with
	// coefficients, bits 4-5 the chroma pattern (0 none, 1 DC, 2 DC and AC).
	// A camera in infrared mode sends grey pictures: chroma vanishes.
	CBP uint8
	// Coefs counts the block's non-zero transform coefficients (luma and
	// chroma, as total_coeff / coded_block_flag count them; 384 for I_PCM).
	Coefs uint16
}

// Weights is the explicit weighted prediction of a P picture's first slice
// for list 0 reference 0 (pred_weight_table): how much brighter or darker
// the encoder found this picture than its reference. Predicted sample =
// Scale * reference + Offset.
type Weights struct {
	// Present: the picture parameter set enables weighted prediction.
	Present bool
	// Luma, Chroma: the entry is signalled (else the scale is 1, offset 0).
	Luma, Chroma bool
	LumaScale    float32
	LumaOffset   int16
	ChromaScale  [2]float32 // Cb, Cr
	ChromaOffset [2]int16
}

// Unity reports whether the weights leave the picture's brightness and
// colour as the reference's (or there are none).
func (w Weights) Unity() bool {
	return w.LumaScale == 1 && w.LumaOffset == 0 && w.ChromaScale == [2]float32{1, 1} && w.ChromaOffset == [2]int16{}
}

// Frame is the macroblock map of one picture.
type Frame struct {
	// Number counts pictures in decode order from the start of the stream.
	Number int
	// SliceType is 'P', 'B', 'I' (for the whole picture; mixed pictures take
	// the type of their first slice).
	SliceType byte
	// WidthMB, HeightMB are the picture's size in macroblocks.
	WidthMB, HeightMB int
	// MBs is row-major, WidthMB*HeightMB long.
	MBs []Macroblock
	// IDR is true for an IDR picture (a key frame that starts a new coded
	// video sequence: POC restarts there).
	IDR bool
	// POC is the picture order count: pictures are displayed in increasing
	// POC order between two IDR pictures (decode order differs with B-frames).
	POC int
	// QP is the first slice's slice QP.
	QP int
	// Bytes is the size of the picture's slice NAL units.
	Bytes int
	// Weights of the first slice (P pictures of streams with weighted
	// prediction; Present false otherwise).
	Weights Weights
}
