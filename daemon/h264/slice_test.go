package h264_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/bits"
	"github.com/matthan/matthan/hwtest/testenv"
)

// weightedClip is a tiny x264 main-profile clip (weighted prediction on)
// whose brightness and contrast step twice, so that some P slices carry
// weights other than the defaults (made by hand with ffmpeg's eq filter;
// see TestPredWeightTableAgainstFFmpeg).
const weightedClip = "testdata/weighted-main.h264"

// paramSets is a ParamSets over the parameter sets seen so far.
type paramSets struct {
	sps [32]*h264.SPS
	pps [256]*h264.PPS
}

func (p *paramSets) PPSByID(id int) *h264.PPS { return p.pps[id] }
func (p *paramSets) SPSByID(id int) *h264.SPS { return p.sps[id] }

// take stores a parameter set NAL unit, or parses a slice header into h
// (ok true).
func (p *paramSets) take(nal []byte, h *h264.SliceHeader) (ok bool, err error) {
	rbsp := h264.Unescape(nil, nal[1:])
	switch h264.NALType(nal) {
	case h264.NALSPS:
		s, err := h264.ParseSPS(rbsp)
		if s != nil {
			p.sps[s.ID] = s
		}
		return false, err
	case h264.NALPPS:
		q, err := h264.ParsePPS(rbsp)
		if q != nil {
			p.pps[q.ID] = q
		}
		return false, err
	case h264.NALSlice, h264.NALIDRSlice:
		var r bits.Reader
		r.Reset(rbsp)
		return true, h264.ParseSliceHeader(&r, h264.NALType(nal), h264.NALRefIdc(nal), p, h)
	}
	return false, nil
}

var traceLine = regexp.MustCompile(`\]\s+\d+\s+(\S+)\s+[01]+\s+=\s+(-?\d+)$`)

// TestPredWeightTableAgainstFFmpeg compares every slice's pred_weight_table
// with what ffmpeg's trace_headers bitstream filter reads from the same
// clip: the denominators and every signalled weight and offset, and the
// defaults where nothing is signalled.
func TestPredWeightTableAgainstFFmpeg(t *testing.T) {
	ffmpeg := testenv.LookTool(t, "ffmpeg", "ffmpeg")
	cmd := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-i", weightedClip, "-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg trace_headers: %v\n%s", err, stderr.Bytes())
	}
	// ffmpeg's view: per slice header, the weight syntax elements by name.
	var want []map[string]int
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasSuffix(l, "] Slice Header") {
			want = append(want, map[string]int{})
			continue
		}
		m := traceLine.FindStringSubmatch(l)
		if m == nil || len(want) == 0 || strings.HasPrefix(m[1], "weighted_") || !strings.Contains(m[1], "weight") && !strings.Contains(m[1], "offset_l") {
			continue
		}
		var v int
		fmt.Sscan(m[2], &v)
		want[len(want)-1][m[1]] = v
	}
	data, err := os.ReadFile(weightedClip)
	if err != nil {
		t.Fatal(err)
	}
	var ps paramSets
	var got []map[string]int
	weighted := 0
	h264.SplitAnnexB(data, func(nal []byte) bool {
		var h h264.SliceHeader
		ok, err := ps.take(nal, &h)
		if err != nil {
			t.Fatalf("slice %d: %v", len(got), err)
		}
		if !ok {
			return true
		}
		g := map[string]int{}
		if h.HasWeights {
			w := &h.Weights
			g["luma_log2_weight_denom"] = w.LumaLog2Denom
			g["chroma_log2_weight_denom"] = w.ChromaLog2Denom
			for i := 0; i < min(h.NumRefIdxActive[0], h264.MaxWeightRefs); i++ {
				g[fmt.Sprintf("luma_weight_l0_flag[%d]", i)] = b2i(w.LumaFlag[0][i])
				g[fmt.Sprintf("chroma_weight_l0_flag[%d]", i)] = b2i(w.ChromaFlag[0][i])
				if w.LumaFlag[0][i] {
					g[fmt.Sprintf("luma_weight_l0[%d]", i)] = int(w.Luma[0][i][0])
					g[fmt.Sprintf("luma_offset_l0[%d]", i)] = int(w.Luma[0][i][1])
					if int(w.Luma[0][i][0]) != 1<<w.LumaLog2Denom || w.Luma[0][i][1] != 0 {
						weighted++
					}
				} else if w.Luma[0][i] != [2]int16{int16(1 << w.LumaLog2Denom), 0} {
					t.Errorf("slice %d ref %d: unsignalled luma weight %v, want the default", len(got), i, w.Luma[0][i])
				}
				if w.ChromaFlag[0][i] {
					for c := 0; c < 2; c++ {
						g[fmt.Sprintf("chroma_weight_l0[%d][%d]", i, c)] = int(w.Chroma[0][i][c][0])
						g[fmt.Sprintf("chroma_offset_l0[%d][%d]", i, c)] = int(w.Chroma[0][i][c][1])
					}
				}
			}
		}
		got = append(got, g)
		return true
	})
	if len(got) != len(want) {
		t.Fatalf("%d slice headers, ffmpeg shows %d", len(got), len(want))
	}
	if weighted == 0 {
		t.Fatalf("no slice of %s carries weights other than the defaults: the clip does not test the parser", weightedClip)
	}
	for i := range got {
		for k, v := range want[i] {
			if !strings.Contains(k, "[") || indexBelow(k, h264.MaxWeightRefs) {
				if g, ok := got[i][k]; !ok || g != v {
					t.Errorf("slice %d: %s = %d (present %v), ffmpeg reads %d", i, k, g, ok, v)
				}
			}
		}
		for k := range got[i] {
			if _, ok := want[i][k]; !ok {
				t.Errorf("slice %d: we read %s, ffmpeg does not", i, k)
			}
		}
	}
}

// indexBelow reports whether the first [index] of a syntax element name is
// below n.
func indexBelow(name string, n int) bool {
	var i int
	if _, err := fmt.Sscanf(name[strings.IndexByte(name, '[')+1:], "%d", &i); err != nil {
		return false
	}
	return i < n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzSliceHeader feeds mutated slice NAL units of the weighted clip to
// ParseSliceHeader with the clip's parameter sets: an error or a header,
// never a panic or a weight out of range.
func FuzzSliceHeader(f *testing.F) {
	data, err := os.ReadFile(weightedClip)
	if err != nil {
		f.Fatal(err)
	}
	var ps paramSets
	h264.SplitAnnexB(data, func(nal []byte) bool {
		var h h264.SliceHeader
		if ok, _ := ps.take(nal, &h); ok {
			if len(nal) > 64 {
				nal = nal[:64] // the header is all that matters
			}
			f.Add(nal)
		}
		return true
	})
	f.Fuzz(func(t *testing.T, nal []byte) {
		if len(nal) < 2 {
			return
		}
		nal = append([]byte{nal[0]&0x60 | 1}, nal[1:]...) // a non-IDR or IDR slice
		if nal[0]&1 == 1 && len(nal) > 2 && nal[2]&0x80 != 0 {
			nal[0] = nal[0]&0x60 | 5
		}
		var h h264.SliceHeader
		var r bits.Reader
		r.Reset(h264.Unescape(nil, nal[1:]))
		if err := h264.ParseSliceHeader(&r, h264.NALType(nal), h264.NALRefIdc(nal), &ps, &h); err != nil {
			return
		}
		if h.HasWeights {
			w := &h.Weights
			if w.LumaLog2Denom > 7 || w.ChromaLog2Denom > 7 {
				t.Fatalf("denominators %d/%d out of range", w.LumaLog2Denom, w.ChromaLog2Denom)
			}
			for i, l := range w.Luma[0] {
				if w.LumaFlag[0][i] && (l[0] < -128 || l[0] > 127 || l[1] < -128 || l[1] > 127) {
					t.Fatalf("luma weight %d offset %d out of range", l[0], l[1])
				}
				if !w.LumaFlag[0][i] && i < h.NumRefIdxActive[0] && l != [2]int16{int16(1 << w.LumaLog2Denom), 0} {
					t.Fatalf("unsignalled luma weight %v, want the default", l)
				}
			}
		}
	})
}
