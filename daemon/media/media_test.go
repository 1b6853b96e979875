package media

import (
	"bytes"
	"testing"
	"time"
)

func TestParamSets(t *testing.T) {
	sps1, sps2, pps := []byte{0x67, 1}, []byte{0x67, 2}, []byte{0x68, 3}
	hvps, hsps, hpps, hidr := []byte{0x40, 1, 9}, []byte{0x42, 1, 9}, []byte{0x44, 1, 9}, []byte{0x26, 1, 0xaf}
	for _, tt := range []struct {
		name          string
		codec         Codec
		nalus         [][]byte
		vps, sps, pps []byte
	}{
		{"H.264 last wins", H264, [][]byte{sps1, pps, sps2, {0x65, 0x88}}, nil, sps2, pps},
		{"H.264 none", H264, [][]byte{{0x41, 1}, {}, nil}, nil, nil, nil},
		{"H.264 ignores H.265 types", H264, [][]byte{hsps}, nil, nil, nil},
		{"H.265", H265, [][]byte{hvps, hsps, hpps, hidr}, hvps, hsps, hpps},
		{"H.265 short units", H265, [][]byte{{0x42}, {}}, nil, nil, nil},
		{"unknown codec", Codec(99), [][]byte{sps1}, nil, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vps, sps, pps := ParamSets(tt.codec, tt.nalus)
			if !bytes.Equal(vps, tt.vps) || !bytes.Equal(sps, tt.sps) || !bytes.Equal(pps, tt.pps) {
				t.Errorf("got %x %x %x, want %x %x %x", vps, sps, pps, tt.vps, tt.sps, tt.pps)
			}
		})
	}
}

// TestCopyTo: the copy owns its bytes (changing the source leaves it as it
// was), limit cuts each NAL unit, and a large enough buffer is reused.
func TestCopyTo(t *testing.T) {
	for _, tt := range []struct {
		name  string
		limit int
		want  [][]byte
	}{
		{"whole", 0, [][]byte{{0x67, 1, 2, 3}, {0x65, 4, 5, 6, 7, 8}}},
		{"cut", 3, [][]byte{{0x67, 1, 2}, {0x65, 4, 5}}},
		{"limit above sizes", 100, [][]byte{{0x67, 1, 2, 3}, {0x65, 4, 5, 6, 7, 8}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := AccessUnit{DTS: time.Second, PTS: 2 * time.Second, Key: true,
				NALUs: [][]byte{{0x67, 1, 2, 3}, {0x65, 4, 5, 6, 7, 8}}}
			var dst AccessUnit
			buf := make([]byte, 0, 64)
			got := src.CopyTo(&dst, buf, tt.limit)
			if &got[:1][0] != &buf[:1][0] {
				t.Error("a large enough buffer was not reused")
			}
			src.NALUs[0][1], src.NALUs[1][1] = 0xFF, 0xFF
			if dst.DTS != src.DTS || dst.PTS != src.PTS || !dst.Key || len(dst.NALUs) != len(tt.want) {
				t.Fatalf("copy %+v", dst)
			}
			for i := range tt.want {
				if !bytes.Equal(dst.NALUs[i], tt.want[i]) {
					t.Errorf("NAL %d = %x, want %x", i, dst.NALUs[i], tt.want[i])
				}
			}
			// Appending to one NAL unit must not overwrite the next.
			_ = append(dst.NALUs[0], 0xEE)
			if !bytes.Equal(dst.NALUs[1], tt.want[1]) {
				t.Error("NAL units share capacity")
			}
		})
	}
}
