// Package mbdump prints macroblock maps in the layout of ffmpeg's
// `-debug mb_type` output, for the mbdump command and the tests that
// compare the analyser with ffmpeg.
package mbdump

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbmap"
)

// Picture is one analysed picture and its place in display order.
type Picture struct {
	Frame mbmap.Frame
	// Seq counts coded video sequences (IDR pictures) up to this picture.
	Seq int
	Err error
}

// AnalyzeAnnexB analyses every access unit of an Annex-B stream and returns
// the pictures in display order (by sequence, then POC).
func AnalyzeAnnexB(data []byte) []Picture {
	var aus [][][]byte
	h264.AccessUnits(data, func(au [][]byte) bool {
		aus = append(aus, append([][]byte(nil), au...))
		return true
	})
	return AnalyzeAUs(aus)
}

// AnalyzeAUs analyses access units and returns their pictures in display order.
func AnalyzeAUs(aus [][][]byte) []Picture {
	a := mb.NewAnalyzer()
	var pics []Picture
	seq := -1
	for _, au := range aus {
		var p Picture
		err := a.Analyze(au, &p.Frame)
		if err == mb.ErrNoPicture {
			continue
		}
		if p.Frame.IDR || seq < 0 {
			seq++
		}
		p.Seq = seq
		p.Err = err
		pics = append(pics, p)
	}
	sort.SliceStable(pics, func(i, j int) bool {
		if pics[i].Seq != pics[j].Seq {
			return pics[i].Seq < pics[j].Seq
		}
		return pics[i].Frame.POC < pics[j].Frame.POC
	})
	return pics
}

// Rows returns the picture's map as ffmpeg prints it: one string per
// macroblock row, three characters per macroblock.
func Rows(f *mbmap.Frame) []string {
	rows := make([]string, 0, f.HeightMB)
	var b strings.Builder
	for y := 0; y < f.HeightMB; y++ {
		b.Reset()
		for x := 0; x < f.WidthMB; x++ {
			m := f.MBs[y*f.WidthMB+x]
			t, p := m.Type, m.Partition
			if t == 0 {
				t = '?'
			}
			if p == 0 {
				p = ' '
			}
			b.WriteByte(t)
			b.WriteByte(p)
			b.WriteByte(' ')
		}
		rows = append(rows, b.String())
	}
	return rows
}

// Write prints pictures in ffmpeg's layout to w, and parse errors to errw.
// It returns the number of pictures that did not parse.
func Write(pics []Picture, w, errw io.Writer, mv bool) int {
	errs := 0
	for _, p := range pics {
		if p.Err != nil {
			errs++
			fmt.Fprintf(errw, "picture %d (decode order): %v\n", p.Frame.Number, p.Err)
		}
		fmt.Fprintf(w, "New frame, type: %c\n", p.Frame.SliceType)
		for _, r := range Rows(&p.Frame) {
			fmt.Fprintln(w, r)
		}
		if mv {
			for y := 0; y < p.Frame.HeightMB; y++ {
				for x := 0; x < p.Frame.WidthMB; x++ {
					m := p.Frame.MBs[y*p.Frame.WidthMB+x]
					fmt.Fprintf(w, "%4d,%-4d", m.MVX, m.MVY)
				}
				fmt.Fprintln(w)
			}
		}
	}
	return errs
}

// DumpFile analyses an Annex-B or MP4 file and writes its maps.
func DumpFile(path string, w, errw io.Writer, mv bool) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var pics []Picture
	if isMP4(data) {
		aus, err := mp4AccessUnits(data)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		pics = AnalyzeAUs(aus)
	} else {
		if !bytes.HasPrefix(data, []byte{0, 0, 1}) && !bytes.HasPrefix(data, []byte{0, 0, 0, 1}) {
			return 0, fmt.Errorf("%s: neither an Annex-B H.264 stream nor an MP4 file", path)
		}
		pics = AnalyzeAnnexB(data)
	}
	return Write(pics, w, errw, mv), nil
}

func isMP4(data []byte) bool {
	return len(data) >= 8 && (string(data[4:8]) == "ftyp" || string(data[4:8]) == "moov")
}

// mp4AccessUnits reads the access units of an MP4 file's H.264 track
// (daemon/fmp4 reads the file), the parameter sets of its avcC in front of
// the first.
func mp4AccessUnits(data []byte) ([][][]byte, error) {
	m, err := fmp4.ReadMovie(data)
	if err != nil {
		return nil, err
	}
	if m.Init.SampleEntry != "avc1" && m.Init.SampleEntry != "avc3" {
		return nil, fmt.Errorf("track %d is %s, not H.264", m.TrackID, m.Init.SampleEntry)
	}
	cfg, err := fmp4.ParseAVCConfig(m.Init.Config)
	if err != nil {
		return nil, err
	}
	aus := make([][][]byte, 0, len(m.Samples))
	for i, s := range m.Samples {
		au, err := fmp4.SplitSample(s, cfg.LengthSize)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		if i == 0 {
			au = append(append(append([][]byte(nil), cfg.SPS...), cfg.PPS...), au...)
		}
		aus = append(aus, au)
	}
	return aus, nil
}
