package mb_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/hwtest/testenv"
)

// PeekHeader before every Analyze leaves the maps as they are without it
// (it takes no note of the picture), and reads the same slice QP, type,
// size and weights that Analyze reports.
func TestPeekHeaderChangesNothing(t *testing.T) {
	for _, name := range []string{"main-360p-bf3-temporal", "main-360p-bf0"} {
		path := testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "h264", name+".h264"), "make h264-clips")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		plain, peeked := mb.NewAnalyzer(), mb.NewAnalyzer()
		var a, b, h mbmap.Frame
		n := 0
		h264.AccessUnits(data, func(au [][]byte) bool {
			errA := plain.Analyze(au, &a)
			if err := peeked.PeekHeader(au, &h); err != nil {
				t.Fatalf("%s picture %d: PeekHeader: %v", name, n, err)
			}
			errB := peeked.Analyze(au, &b)
			if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
				t.Fatalf("%s picture %d: maps differ after PeekHeader (%v, %v)", name, n, errA, errB)
			}
			if h.QP != b.QP || h.SliceType != b.SliceType || h.WidthMB != b.WidthMB || h.Bytes != b.Bytes || h.Weights != b.Weights {
				t.Fatalf("%s picture %d: PeekHeader %+v, Analyze QP %d type %c %dx%d bytes %d weights %+v", name, n,
					h, b.QP, b.SliceType, b.WidthMB, b.HeightMB, b.Bytes, b.Weights)
			}
			n++
			return n < 120
		})
	}
}
