package mb_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbdump"
	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/hwtest/testenv"
)

// ffFrame is one picture of ffmpeg's -debug mb_type output.
type ffFrame struct {
	typ  byte
	rows []string
}

var ffLine = regexp.MustCompile(`\[h264 @ (0x[0-9a-f]+)\] (.*)$`)

// ffmpegMaps runs ffmpeg's decoder with -debug mb_type and returns the
// macroblock maps it prints, in display order. Lines of the probing
// decoder (avformat_find_stream_info) are told apart by the decoder's
// address: the last picture always comes from the real one.
func ffmpegMaps(t *testing.T, ffmpeg, path string, frames int) []ffFrame {
	t.Helper()
	args := []string{"-hide_banner", "-nostats", "-threads", "1", "-debug", "mb_type", "-i", path}
	if frames > 0 {
		args = append(args, "-frames:v", strconv.Itoa(frames))
	}
	args = append(args, "-f", "null", "-")
	cmd := exec.Command(ffmpeg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.Bytes())
	}
	type line struct{ addr, text string }
	var lines []line
	addr := ""
	for _, l := range strings.Split(stderr.String(), "\n") {
		m := ffLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		lines = append(lines, line{m[1], m[2]})
		if strings.HasPrefix(m[2], "New frame, type: ") {
			addr = m[1]
		}
	}
	var out []ffFrame
	for _, l := range lines {
		if l.addr != addr {
			continue
		}
		if strings.HasPrefix(l.text, "New frame, type: ") {
			out = append(out, ffFrame{typ: l.text[len("New frame, type: ")]})
			continue
		}
		if len(out) > 0 && len(l.text)%3 == 0 && strings.Trim(l.text, "SIiPdD<>X+-|? ") == "" && len(l.text) > 0 {
			f := &out[len(out)-1]
			f.rows = append(f.rows, l.text)
		}
	}
	return out
}

type clipCase struct {
	name string
	path string
	// frames limits the comparison to the first pictures (0: all).
	frames int
}

func clipCases(t *testing.T) []clipCase {
	out := testenv.OutDir()
	cases := []clipCase{
		// Baseline: CAVLC, P slices, several slices, GOP lengths, low bitrate.
		{name: "baseline/360p-gop10", path: "h264/baseline-360p-gop10.h264"},
		{name: "baseline/360p-slices4", path: "h264/baseline-360p-slices4.h264"},
		{name: "baseline/480p-lowrate", path: "h264/baseline-480p-lowrate.h264"},
		{name: "baseline/360p-allparts", path: "h264/baseline-360p-allparts.h264"},
		// Main: CABAC, weighted prediction, B-frames (spatial and temporal direct).
		{name: "main/360p-bf0", path: "h264/main-360p-bf0.h264"},
		{name: "main/720p-bf2-slices2", path: "h264/main-720p-bf2-slices2.h264"},
		{name: "main/360p-bf3-temporal", path: "h264/main-360p-bf3-temporal.h264"},
		// High: 8x8 transform with CABAC and with CAVLC, 1080p, high bitrate.
		{name: "high/360p-bf0-crf18", path: "h264/high-360p-bf0-crf18.h264"},
		{name: "high/360p-cavlc", path: "h264/high-360p-cavlc.h264"},
		{name: "high/720p-bf3-slices3", path: "h264/high-720p-bf3-slices3.h264"},
		{name: "high/1080p-bf0", path: "h264/high-1080p-bf0.h264"},
		{name: "high/1080p-hirate", path: "h264/high-1080p-hirate.h264"},
		{name: "high/360p-8x8-lowrate", path: "h264/high-360p-8x8-lowrate.h264"},
		{name: "high/360p-allparts", path: "h264/high-360p-allparts.h264"},
		// The camera simulator's clips (make clips).
		{name: "sim/moving-720p", path: "clips/moving-720p.h264", frames: 60},
		{name: "sim/static-360p", path: "clips/static-360p.h264", frames: 60},
	}
	for i := range cases {
		cases[i].path = filepath.Join(out, cases[i].path)
	}
	return cases
}

// TestMatchesFFmpeg compares the macroblock type and partition of every
// macroblock of every picture with ffmpeg's.
func TestMatchesFFmpeg(t *testing.T) {
	ffmpeg := testenv.LookTool(t, "ffmpeg", "ffmpeg")
	for _, tc := range clipCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			how := "make h264-clips"
			if strings.Contains(tc.path, "/clips/") {
				how = "make clips"
			}
			testenv.NeedFile(t, tc.path, how)
			want := ffmpegMaps(t, ffmpeg, tc.path, tc.frames)
			if len(want) == 0 {
				t.Fatalf("ffmpeg printed no macroblock maps for %s", tc.path)
			}
			data, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			pics := mbdump.AnalyzeAnnexB(data)
			if tc.frames == 0 && len(pics) != len(want) {
				t.Errorf("got %d pictures, ffmpeg printed %d", len(pics), len(want))
			}
			if len(pics) < len(want) {
				t.Fatalf("got %d pictures, ffmpeg printed %d", len(pics), len(want))
			}
			var mism []string
			mbs := 0
			for i, w := range want {
				p := pics[i]
				if p.Err != nil {
					mism = append(mism, fmt.Sprintf("picture %d (display order): %v", i, p.Err))
					continue
				}
				if p.Frame.SliceType != w.typ {
					mism = append(mism, fmt.Sprintf("picture %d: type %c, ffmpeg %c", i, p.Frame.SliceType, w.typ))
				}
				rows := mbdump.Rows(&p.Frame)
				if len(rows) != len(w.rows) {
					mism = append(mism, fmt.Sprintf("picture %d: %d macroblock rows, ffmpeg %d", i, len(rows), len(w.rows)))
					continue
				}
				for y := range rows {
					if len(rows[y]) != len(w.rows[y]) {
						mism = append(mism, fmt.Sprintf("picture %d row %d: %d macroblocks, ffmpeg %d", i, y, len(rows[y])/3, len(w.rows[y])/3))
						continue
					}
					for x := 0; x < len(rows[y]); x += 3 {
						mbs++
						got, exp := rows[y][x:x+2], w.rows[y][x:x+2]
						if got == exp {
							continue
						}
						mism = append(mism, fmt.Sprintf("picture %d (%c) macroblock (%d,%d): got %q, ffmpeg %q", i, w.typ, x/3, y, got, exp))
					}
				}
			}
			t.Logf("%d pictures, %d macroblocks compared", len(want), mbs)
			if len(mism) > 0 {
				if len(mism) > 10 {
					mism = append(mism[:10], fmt.Sprintf("... and %d more", len(mism)-10))
				}
				t.Errorf("%d mismatches with ffmpeg, first ones:\n%s", len(mism), strings.Join(mism, "\n"))
			}
		})
	}
}

// TestSkippingPictures checks that analysing only every third picture
// gives the same maps as analysing all of them (slices parse on their own).
// In B pictures, direct-predicted macroblocks need the co-located
// picture's motion, which a skipped picture does not leave: there only the
// kind, type and bits are compared (partition and vectors may differ).
func TestSkippingPictures(t *testing.T) {
	for _, withSkip := range []bool{true, false} {
		testSkippingPictures(t, withSkip)
	}
}

// testSkippingPictures analyses every third picture, passing the others to
// Skip or (withSkip false) not at all: then only parameter sets in skipped
// access units would be missed (these clips carry them in the first one),
// Number counts analysed pictures only and POC may differ.
func testSkippingPictures(t *testing.T, withSkip bool) {
	for _, name := range []string{"h264/main-360p-bf3-temporal.h264", "h264/high-720p-bf3-slices3.h264", "h264/baseline-360p-slices4.h264"} {
		path := filepath.Join(testenv.OutDir(), name)
		testenv.NeedFile(t, path, "make h264-clips")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		all := mb.NewAnalyzer()
		some := mb.NewAnalyzer()
		i := 0
		var fa, fs mbmap.Frame
		h264.AccessUnits(data, func(au [][]byte) bool {
			errAll := all.Analyze(au, &fa)
			if i > 0 && i%3 != 1 {
				if !withSkip {
					i++
					return true
				}
				if err := some.Skip(au); err != nil {
					t.Fatalf("%s: Skip: %v", name, err)
				}
			} else if i == 0 {
				if err := some.Analyze(au, &fs); err != nil {
					t.Fatalf("%s: first picture: %v", name, err)
				}
			} else {
				errSome := some.Analyze(au, &fs)
				if (errAll == nil) != (errSome == nil) {
					t.Fatalf("%s access unit %d: errors differ: %v / %v", name, i, errAll, errSome)
				}
				if errAll == nil {
					if withSkip && (fa.Number != fs.Number || fa.POC != fs.POC) || fa.SliceType != fs.SliceType {
						t.Errorf("%s access unit %d: picture %d%c POC %d, want %d%c POC %d", name, i, fs.Number, fs.SliceType, fs.POC, fa.Number, fa.SliceType, fa.POC)
					}
					for j := range fa.MBs {
						x, y := fa.MBs[j], fs.MBs[j]
						if fa.SliceType == 'B' {
							x.Partition, x.MVX, x.MVY = 0, 0, 0
							y.Partition, y.MVX, y.MVY = 0, 0, 0
							if x.Type != 'd' && x.Type != 'D' {
								x.Partition, y.Partition = fa.MBs[j].Partition, fs.MBs[j].Partition
							}
						}
						if x != y {
							t.Fatalf("%s access unit %d macroblock %d: %+v when skipping pictures, %+v otherwise", name, i, j, fs.MBs[j], fa.MBs[j])
						}
					}
				}
			}
			i++
			return true
		})
	}
}
