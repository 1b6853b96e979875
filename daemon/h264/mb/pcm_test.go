package mb_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/mbdump"
	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/hwtest/testenv"
)

// bitWriter writes an RBSP for hand-made slices.
type bitWriter struct {
	b []byte
	n int // bits
}

func (w *bitWriter) u(n int, v uint32) {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>uint(i)&1 != 0 {
			w.b[len(w.b)-1] |= 0x80 >> uint(w.n%8)
		}
		w.n++
	}
}

func (w *bitWriter) ue(v uint32) {
	v++
	n := 0
	for x := v; x > 1; x >>= 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, v)
}

func (w *bitWriter) align0() {
	for w.n%8 != 0 {
		w.u(1, 0)
	}
}

// escape inserts emulation prevention bytes.
func escape(rbsp []byte) []byte {
	var out []byte
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// TestPCMWithFFmpeg builds a CAVLC picture of 2x2 macroblocks with I_PCM
// macroblocks (which libx264 does not produce) around an Intra_16x16 one
// whose coeff_token depends on the PCM neighbour's count (nC = 16), and
// checks the map against ffmpeg's.
func TestPCMWithFFmpeg(t *testing.T) {
	params, sps, pps := tinyParams(t, "testdata/tiny-baseline.h264", false)
	w := &bitWriter{}
	idrSliceHeader(w, sps, pps)
	pcm := func() {
		w.ue(25) // I_PCM
		w.align0()
		for i := 0; i < 384; i++ {
			w.u(8, 0x80)
		}
	}
	pcm()
	pcm()
	w.ue(3)      // I_16x16_2_0_0: DC prediction, no coded luma AC, no chroma
	w.ue(0)      // intra_chroma_pred_mode DC
	w.ue(0)      // mb_qp_delta 0
	w.u(6, 0b11) // Intra16x16DCLevel coeff_token, nC = 16 (PCM above): TotalCoeff 0
	pcm()
	w.u(1, 1) // rbsp_stop_one_bit
	w.align0()
	checkPCMPicture(t, params, w)
}

// tinyParams reads the SPS and PPS of a 32x32 test stream.
func tinyParams(t *testing.T, path string, cabac bool) ([][]byte, *h264.SPS, *h264.PPS) {
	t.Helper()
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var params [][]byte
	var sps *h264.SPS
	var pps *h264.PPS
	h264.SplitAnnexB(base, func(nal []byte) bool {
		switch h264.NALType(nal) {
		case h264.NALSPS:
			sps, _ = h264.ParseSPS(h264.Unescape(nil, nal[1:]))
			params = append(params, nal)
		case h264.NALPPS:
			pps, _ = h264.ParsePPS(h264.Unescape(nil, nal[1:]))
			params = append(params, nal)
		}
		return true
	})
	if sps == nil || pps == nil || sps.WidthMB != 2 || sps.HeightMB != 2 || pps.CABAC != cabac {
		t.Fatalf("%s must be a 32x32 stream (CABAC %v)", path, cabac)
	}
	return params, sps, pps
}

// idrSliceHeader writes the header of an IDR I slice with QP = pic_init_qp.
func idrSliceHeader(w *bitWriter, sps *h264.SPS, pps *h264.PPS) {
	w.ue(0) // first_mb_in_slice
	w.ue(7) // slice_type I (all slices)
	w.ue(uint32(pps.ID))
	w.u(sps.Log2MaxFrameNum, 0) // frame_num
	w.ue(0)                     // idr_pic_id
	if sps.POCType == 0 {
		w.u(sps.Log2MaxPOCLsb, 0)
		if pps.BottomFieldPicOrderPresent {
			w.ue(0)
		}
	}
	w.u(1, 0) // no_output_of_prior_pics_flag
	w.u(1, 0) // long_term_reference_flag
	w.ue(0)   // slice_qp_delta se(0)
	if pps.DeblockingFilterControl {
		w.ue(1) // disable_deblocking_filter_idc
	}
}

// checkPCMPicture analyses the hand-made slice (RBSP in w) of a 2x2
// picture of I_PCM macroblocks around an Intra_16x16 one at (0,1), and
// compares the map with ffmpeg's.
func checkPCMPicture(t *testing.T, params [][]byte, w *bitWriter) {
	t.Helper()
	slice := append([]byte{0x65}, escape(w.b)...)

	au := append(append([][]byte(nil), params...), slice)
	a := mb.NewAnalyzer()
	var f mbmap.Frame
	if err := a.Analyze(au, &f); err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	got := strings.Join(mbdump.Rows(&f), "\n")
	if want := "P  P  \nI  P  "; got != want {
		t.Fatalf("got map\n%s\nwant\n%s", got, want)
	}
	if f.MBs[0].Kind != mbmap.PCM || f.MBs[2].Kind != mbmap.Intra {
		t.Errorf("kinds %v %v, want PCM and Intra", f.MBs[0].Kind, f.MBs[2].Kind)
	}

	ffmpeg := testenv.LookTool(t, "ffmpeg", "ffmpeg")
	path := filepath.Join(t.TempDir(), "pcm.h264")
	var stream []byte
	for _, n := range au {
		stream = append(append(stream, 0, 0, 0, 1), n...)
	}
	if err := os.WriteFile(path, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	ff := ffmpegMaps(t, ffmpeg, path, 0)
	if len(ff) != 1 {
		t.Fatalf("ffmpeg printed %d pictures, want 1", len(ff))
	}
	if ffmap := strings.Join(ff[0].rows, "\n"); ffmap != got {
		t.Errorf("ffmpeg's map\n%s\ndiffers from ours\n%s", ffmap, got)
	}
	if out, err := exec.Command(ffmpeg, "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("ffmpeg reports errors decoding the hand-made picture: %v\n%s", err, out)
	}
}

// cabacEncoder is the arithmetic encoder of clause 9.3.4, to write
// CABAC slices the tests need and libx264 does not produce.
type cabacEncoder struct {
	w           *bitWriter
	low, rng    uint32
	outstanding int
	first       bool
	ctx         [1024]uint8
}

func (e *cabacEncoder) init(qp int) {
	for i := range e.ctx {
		m, n := int(mb.CABACInitMN[0][i][0]), int(mb.CABACInitMN[0][i][1])
		pre := max(1, min(126, ((m*qp)>>4)+n))
		if pre <= 63 {
			e.ctx[i] = uint8(63-pre) << 1
		} else {
			e.ctx[i] = uint8(pre-64)<<1 | 1
		}
	}
	e.start()
}

func (e *cabacEncoder) start() { e.low, e.rng, e.outstanding, e.first = 0, 510, 0, true }

func (e *cabacEncoder) put(b uint32) {
	if e.first {
		e.first = false
	} else {
		e.w.u(1, b)
	}
	for ; e.outstanding > 0; e.outstanding-- {
		e.w.u(1, 1-b)
	}
}

func (e *cabacEncoder) renorm() {
	for e.rng < 256 {
		switch {
		case e.low < 256:
			e.put(0)
		case e.low >= 512:
			e.low -= 512
			e.put(1)
		default:
			e.low -= 256
			e.outstanding++
		}
		e.rng <<= 1
		e.low <<= 1
	}
}

func (e *cabacEncoder) decision(ctx int, bin uint32) {
	s := e.ctx[ctx]
	p, mps := s>>1, uint32(s&1)
	lps := uint32(mb.RangeTabLPS[p][(e.rng>>6)&3])
	e.rng -= lps
	if bin != mps {
		e.low += e.rng
		e.rng = lps
		if p == 0 {
			mps = 1 - mps
		}
		p = mb.TransIdxLPS[p]
	} else if p < 62 {
		p++
	}
	e.ctx[ctx] = p<<1 | uint8(mps)
	e.renorm()
}

func (e *cabacEncoder) terminate(bin uint32) {
	e.rng -= 2
	if bin == 0 {
		e.renorm()
		return
	}
	e.low += e.rng
	e.rng = 2
	e.renorm()
	e.put((e.low >> 9) & 1)
	e.w.u(2, ((e.low>>7)&3)|1)
}

// TestPCMCABACWithFFmpeg is TestPCMWithFFmpeg for CABAC: I_PCM ends the
// arithmetic decoding in the middle of the slice and starts it again.
func TestPCMCABACWithFFmpeg(t *testing.T) {
	params, sps, pps := tinyParams(t, "testdata/tiny-main.h264", true)
	w := &bitWriter{}
	idrSliceHeader(w, sps, pps)
	for w.n%8 != 0 {
		w.u(1, 1) // cabac_alignment_one_bit
	}
	e := &cabacEncoder{w: w}
	e.init(pps.PicInitQP)
	pcm := func(ctx int) {
		e.decision(ctx, 1) // not I_NxN
		e.terminate(1)     // I_PCM
		w.align0()
		for i := 0; i < 384; i++ {
			w.u(8, 0x80)
		}
		e.start()
	}
	pcm(3) // (0,0): no neighbours
	e.terminate(0)
	pcm(4) // (1,0): left is not I_NxN
	e.terminate(0)
	// (0,1): I_16x16_2_0_0, above is I_PCM
	e.decision(4, 1)
	e.terminate(0)
	e.decision(6, 0)    // no luma AC
	e.decision(7, 0)    // no chroma
	e.decision(9, 1)    // prediction mode 2 = 0b10
	e.decision(10, 0)   //
	e.decision(64, 0)   // intra_chroma_pred_mode DC (neighbours: none, PCM)
	e.decision(60, 0)   // mb_qp_delta 0 (previous macroblock I_PCM)
	e.decision(85+3, 0) // Intra16x16 DC coded_block_flag 0 (left unavailable in an intra macroblock, above I_PCM)
	e.terminate(0)
	pcm(5)         // (1,1): left I_16x16 and above I_PCM
	e.terminate(1) // end_of_slice_flag, with the rbsp_stop_one_bit
	w.align0()
	checkPCMPicture(t, params, w)
}
