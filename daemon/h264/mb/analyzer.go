// Package mb parses the macroblock layer of H.264 slices (CAVLC and CABAC)
// without reconstructing pixels, and fills a macroblock map per picture
// (daemon/mbmap) for the motion detector.
package mb

import (
	"errors"

	"github.com/matthan/matthan/daemon/mbmap"
)

// Analyzer turns access units into macroblock maps. Only parameter sets
// carry state from one access unit to the next, so a caller may analyse
// every Nth picture and skip the others at no cost.
type Analyzer struct{}

// NewAnalyzer returns an Analyzer with no parameter sets yet.
func NewAnalyzer() *Analyzer { return &Analyzer{} }

// Analyze parses one access unit's NAL units (without start codes) and fills
// out. SPS and PPS NAL units update the analyser's state.
func (a *Analyzer) Analyze(au [][]byte, out *mbmap.Frame) error {
	return errors.New("h264/mb: not implemented yet")
}
