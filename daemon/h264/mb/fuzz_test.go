package mb_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbmap"
)

// FuzzAnalyze feeds arbitrary bytes, as an Annex-B stream, to the analyser:
// it must never panic nor loop forever. The seeds are the headers and first
// pictures of a CAVLC and a CABAC stream in testdata/fuzz-seed-*.h264.
func FuzzAnalyze(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz-seed-*.h264")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0xff, 0, 0, 1, 0x68, 0xce, 0x38, 0x80, 0, 0, 1, 0x65, 0x88, 0x84, 0x21})
	f.Fuzz(func(t *testing.T, data []byte) {
		a := mb.NewAnalyzer()
		var fr mbmap.Frame
		n := 0
		h264.AccessUnits(data, func(au [][]byte) bool {
			_ = a.PeekHeader(au, &fr)
			_ = a.Analyze(au, &fr)
			_ = a.Skip(au)
			_ = a.SkipHeader(au, &fr)
			n++
			return n < 16
		})
	})
}

// FuzzSliceNAL mutates the slice NAL unit of a real picture while keeping
// valid parameter sets, which reaches the macroblock layer much more often.
func FuzzSliceNAL(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz-seed-*.h264")
	var params [][][]byte
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		var ps [][]byte
		h264.SplitAnnexB(b, func(nal []byte) bool {
			switch h264.NALType(nal) {
			case h264.NALSPS, h264.NALPPS:
				ps = append(ps, nal)
			case h264.NALSlice, h264.NALIDRSlice:
				f.Add(len(params), nal)
			}
			return true
		})
		params = append(params, ps)
	}
	if len(params) == 0 {
		f.Skip("no seed streams in testdata")
	}
	f.Fuzz(func(t *testing.T, which int, nal []byte) {
		if which < 0 {
			which = -which
		}
		ps := params[which%len(params)]
		a := mb.NewAnalyzer()
		var fr mbmap.Frame
		_ = a.Analyze(append(append([][]byte(nil), ps...), nal), &fr)
	})
}
