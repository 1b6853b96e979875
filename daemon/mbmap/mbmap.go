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
}
