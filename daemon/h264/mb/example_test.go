package mb_test

import (
	"fmt"
	"os"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbmap"
)

// Analyse every picture of an Annex-B stream and print its macroblock
// kinds (Skip, Inter, Intra, PCM as 0..3).
func Example() {
	data, err := os.ReadFile("testdata/tiny-main.h264")
	if err != nil {
		fmt.Println(err)
		return
	}
	a := mb.NewAnalyzer()
	var f mbmap.Frame
	h264.AccessUnits(data, func(au [][]byte) bool {
		if err := a.Analyze(au, &f); err != nil {
			fmt.Println(err)
			return true
		}
		fmt.Printf("picture %d (%c), %dx%d macroblocks:", f.Number, f.SliceType, f.WidthMB, f.HeightMB)
		for _, m := range f.MBs {
			fmt.Printf(" %d%c", m.Kind, m.Type)
		}
		fmt.Println()
		return true
	})
	// Output:
	// picture 0 (I), 2x2 macroblocks: 2i 2i 2i 2i
}
