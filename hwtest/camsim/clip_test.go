package camsim

import (
	"path/filepath"
	"testing"

	"github.com/matthan/matthan/hwtest/testenv"
)

func clipsDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(testenv.OutDir(), "clips")
	for _, n := range []string{ClipMoving720, ClipStatic720, ClipMoving360, ClipStatic360, ClipMovingHEVC} {
		testenv.NeedFile(t, filepath.Join(dir, n), "make clips")
	}
	return dir
}

// nalTypes lists the NAL unit types carried by one RTP payload (unpacking
// STAP-A / AP aggregates and reporting an FU by the type it fragments).
func nalTypes(codec Codec, p []byte) []int {
	// H.264: type in the header byte's low 5 bits, STAP-A 24, FU-A 28 with
	// a 1-byte header. H.265: type in bits 1-6 of a 2-byte header, AP 48,
	// FU 49.
	typeOf := func(b byte) int { return int(b) & 0x1f }
	aggregate, fragment, hdr, fuMask := 24, 28, 1, 0x1f
	if codec == H265 {
		typeOf = func(b byte) int { return int(b>>1) & 0x3f }
		aggregate, fragment, hdr, fuMask = 48, 49, 2, 0x3f
	}
	if len(p) == 0 || codec == H265 && len(p) < 3 {
		return nil
	}
	t := typeOf(p[0])
	switch t {
	case aggregate:
		var out []int
		for q := p[hdr:]; len(q) >= 3; {
			n := int(q[0])<<8 | int(q[1])
			if n == 0 || n > len(q)-2 {
				break
			}
			out = append(out, typeOf(q[2]))
			q = q[2+n:]
		}
		return out
	case fragment:
		if len(p) <= hdr {
			return nil
		}
		return []int{int(p[hdr]) & fuMask}
	}
	return []int{t}
}

func hasParamSets(codec Codec, payloads [][]byte) bool {
	for _, p := range payloads {
		for _, t := range nalTypes(codec, p) {
			if (codec == H264 && (t == 7 || t == 8)) || (codec == H265 && t >= 32 && t <= 34) {
				return true
			}
		}
	}
	return false
}

func TestLoadClip(t *testing.T) {
	dir := clipsDir(t)
	for _, tt := range []struct {
		file  string
		codec Codec
	}{
		{ClipMoving720, H264},
		{ClipStatic720, H264},
		{ClipMoving360, H264},
		{ClipStatic360, H264},
		{ClipMovingHEVC, H265},
	} {
		t.Run(tt.file, func(t *testing.T) {
			c, err := LoadClip(filepath.Join(dir, tt.file), tt.codec)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(c.Frames), 10*FrameRate; got != want {
				t.Errorf("got %d frames, want %d (10 s at 25 fps)", got, want)
			}
			for i, f := range c.Frames {
				if want := i%50 == 0; f.Key != want {
					t.Errorf("frame %d: key %v, want %v (GOP 50)", i, f.Key, want)
				}
				if got := hasParamSets(tt.codec, f.InBand); got != f.Key {
					t.Errorf("frame %d: parameter sets in band %v, want %v", i, got, f.Key)
				}
				if hasParamSets(tt.codec, f.NoParams) {
					t.Errorf("frame %d: parameter sets in the sdp-only variant", i)
				}
				for _, p := range f.InBand {
					if len(p) == 0 || len(p) > rtpPayloadMaxSize {
						t.Fatalf("frame %d: payload of %d bytes", i, len(p))
					}
				}
			}
			if c.SPS == nil || c.PPS == nil || (tt.codec == H265) != (c.VPS != nil) {
				t.Errorf("parameter sets: VPS %d SPS %d PPS %d bytes", len(c.VPS), len(c.SPS), len(c.PPS))
			}
		})
	}
}

func TestParseClipRejects(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"no start code", []byte{1, 2, 3, 4, 5, 6}},
		{"P frame first", []byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x41, 0x9a, 0x00}},
		{"no parameter sets", []byte{0, 0, 1, 0x65, 0x88, 0x84, 0x00}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseClip(tt.in, H264); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func FuzzParseClip(f *testing.F) {
	sps := []byte{0, 0, 0, 1, 0x67, 0x4d, 0x40, 0x1f}
	pps := []byte{0, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80}
	idr := []byte{0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33}
	p := []byte{0, 0, 1, 0x41, 0x9a, 0x02, 0x03}
	h264 := append(append(append(append([]byte{}, sps...), pps...), idr...), p...)
	f.Add(h264, false)
	f.Add([]byte{0, 0, 1, 0x40, 1, 0xc, 0, 0, 1, 0x42, 1, 1, 0, 0, 1, 0x44, 1, 0xc0, 0, 0, 1, 0x26, 1, 0xaf, 0x11}, true)
	f.Add([]byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1}, false)
	f.Fuzz(func(t *testing.T, b []byte, hevc bool) {
		codec := H264
		if hevc {
			codec = H265
		}
		c, err := ParseClip(b, codec)
		if err != nil {
			return
		}
		if len(c.Frames) == 0 || !c.Frames[0].Key || c.SPS == nil || c.PPS == nil {
			t.Fatalf("accepted a clip with %d frames, SPS %x, PPS %x", len(c.Frames), c.SPS, c.PPS)
		}
		for i, fr := range c.Frames {
			if len(fr.InBand) == 0 || len(fr.NoParams) == 0 {
				t.Fatalf("frame %d without packets", i)
			}
			for _, p := range fr.InBand {
				if len(p) > rtpPayloadMaxSize {
					t.Fatalf("frame %d: payload of %d bytes", i, len(p))
				}
			}
		}
	})
}
