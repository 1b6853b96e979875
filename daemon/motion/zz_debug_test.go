package motion

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbmap"
)

func TestZZDebug(t *testing.T) {
	path := os.Getenv("DBG_CLIP")
	if path == "" {
		t.Skip()
	}
	data, _ := os.ReadFile(path)
	d, _ := New("c", "", Config{}, nil)
	a := mb.NewAnalyzer()
	var f mbmap.Frame
	i := 0
	h264.AccessUnits(data, func(au [][]byte) bool {
		err := a.Analyze(au, &f)
		if i%5 == 0 && err == nil && f.SliceType == 'P' {
			ts := epochT.Add(time.Duration(i) * 40 * time.Millisecond)
			d.Observe(ts, &f)
			nAct := 0
			for _, x := range d.active {
				if x {
					nAct++
				}
			}
			area, mass, reg, _ := d.largestRegion()
			skip, bits := 0, 0
			for _, m := range f.MBs {
				if m.Kind == mbmap.Skip {
					skip++
				}
				bits += int(m.Bits)
			}
			if i == 235 || i == 275 {
				for y := 10; y < 17; y++ {
					for x := 20; x < 32; x++ {
						m := f.MBs[y*f.WidthMB+x]
						fmt.Printf("%c%3d,%3d/%3d ", m.Type, m.MVX, m.MVY, m.Bits)
					}
					fmt.Println()
				}
			}
			fmt.Printf("t=%5.2f skip=%3d bits=%6d active=%3d area=%3d mass=%5.1f reg=%v ev=%v glob=%v\n", float64(i)/25, skip, bits, nAct, area, mass, reg, d.ev != nil, d.globalOn)
		}
		i++
		return true
	})
}

var epochT = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
