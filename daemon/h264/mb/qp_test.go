package mb_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/mbdump"
	"github.com/matthan/matthan/hwtest/testenv"
)

var qpRow = regexp.MustCompile(`^\[h264 @ (0x[0-9a-f]+)\] ([0-9 ]+)$`) // "%2d" per macroblock

// TestQPMatchesFFmpeg compares every macroblock's QP (slice QP plus the
// mb_qp_delta so far, CAVLC and CABAC) with what ffmpeg's -debug qp
// prints, on clips without B-frames (display order is decode order).
// The motion detector's key-frame statistics take their mean.
func TestQPMatchesFFmpeg(t *testing.T) {
	ffmpeg := testenv.LookTool(t, "ffmpeg", "ffmpeg")
	const frames = 30
	for _, name := range []string{"baseline-360p-gop10", "main-360p-bf0", "high-360p-cavlc", "high-360p-bf0-crf18", "high-360p-8x8-lowrate"} {
		t.Run(name, func(t *testing.T) {
			path := testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "h264", name+".h264"), "make h264-clips")
			cmd := exec.Command(ffmpeg, "-hide_banner", "-nostats", "-threads", "1", "-debug", "qp", "-i", path, "-frames:v", fmt.Sprint(frames), "-f", "null", "-")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
			}
			// The decoder that prints "New frame" last is the real one (the
			// probing decoder prints too).
			var addr string
			for _, l := range strings.Split(stderr.String(), "\n") {
				if i := strings.Index(l, "] New frame, type: "); i > 0 {
					addr = l[strings.Index(l, "@ ")+2 : i]
				}
			}
			var want [][]string // per picture, rows of QP digits
			for _, l := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(l, "@ "+addr+"] New frame, type: ") {
					want = append(want, nil)
					continue
				}
				if m := qpRow.FindStringSubmatch(l); m != nil && m[1] == addr && len(want) > 0 {
					want[len(want)-1] = append(want[len(want)-1], m[2])
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pics := mbdump.AnalyzeAnnexB(data)
			if len(want) == 0 || len(pics) < len(want) {
				t.Fatalf("%d pictures, ffmpeg printed %d", len(pics), len(want))
			}
			bad := 0
			for i, rows := range want {
				f := &pics[i].Frame
				for y, row := range rows {
					if len(row) != 2*f.WidthMB || y >= f.HeightMB {
						t.Fatalf("picture %d row %d: ffmpeg's row %q does not fit %dx%d", i, y, row, f.WidthMB, f.HeightMB)
					}
					for x := 0; x < f.WidthMB; x++ {
						var q int
						fmt.Sscan(strings.TrimSpace(row[2*x:2*x+2]), &q)
						if got := int(f.MBs[y*f.WidthMB+x].QP); got != q {
							if bad++; bad <= 5 {
								t.Errorf("picture %d (%c) macroblock %d,%d: QP %d, ffmpeg %d", i, f.SliceType, x, y, got, q)
							}
						}
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d macroblocks' QP differ from ffmpeg's", bad)
			}
		})
	}
}
