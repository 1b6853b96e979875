package media

import (
	"bytes"
	"testing"
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
