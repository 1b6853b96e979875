package mbdump

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/matthan/matthan/hwtest/testenv"
)

// TestMP4MatchesAnnexB remuxes a clip into a progressive and a fragmented
// MP4 with ffmpeg and checks that the maps equal the Annex-B ones.
func TestMP4MatchesAnnexB(t *testing.T) {
	ffmpeg := testenv.LookTool(t, "ffmpeg", "ffmpeg")
	src := testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "h264", "main-720p-bf2-slices2.h264"), "make h264-clips")
	var want, errs bytes.Buffer
	if n, err := DumpFile(src, &want, &errs, true); err != nil || n != 0 {
		t.Fatalf("annex-b: %d errors, %v\n%s", n, err, errs.Bytes())
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"progressive.mp4", nil},
		{"fragmented.mp4", []string{"-movflags", "+frag_keyframe+empty_moov+default_base_moof"}},
	} {
		out := filepath.Join(dir, tt.name)
		args := append([]string{"-v", "error", "-y", "-i", src, "-c", "copy"}, tt.flags...)
		if b, err := exec.Command(ffmpeg, append(args, out)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		var got bytes.Buffer
		errs.Reset()
		if n, err := DumpFile(out, &got, &errs, true); err != nil || n != 0 {
			t.Fatalf("%s: %d errors, %v\n%s", tt.name, n, err, errs.Bytes())
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: maps differ from the Annex-B stream's", tt.name)
		}
	}
}

func FuzzMP4(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x08ftyp\x00\x00\x00\x10moov\x00\x00\x00\x08trak"))
	f.Add([]byte("\x00\x00\x00\x01moof\x00\x00\x00\x00\x00\x00\x00\x10"))
	f.Fuzz(func(t *testing.T, data []byte) {
		aus, err := mp4AccessUnits(data)
		if err == nil && len(aus) > 0 {
			_ = AnalyzeAUs(aus)
		}
	})
}
