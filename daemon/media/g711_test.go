package media

import (
	"encoding/binary"
	"testing"
)

// TestG711 checks the expansion against known points of ITU-T G.711 (and of
// every decoder built from it, e.g. ffmpeg's pcm_alaw/pcm_mulaw): silence,
// the extremes, and the sign symmetry.
func TestG711(t *testing.T) {
	for _, tt := range []struct {
		codec AudioCodec
		in    byte
		want  int16
	}{
		{PCMA, 0xd5, 8}, {PCMA, 0x55, -8}, {PCMA, 0xaa, 32256}, {PCMA, 0x2a, -32256},
		{PCMU, 0xff, 0}, {PCMU, 0x7f, 0}, {PCMU, 0x80, 32124}, {PCMU, 0x00, -32124},
	} {
		got := AppendLPCM(nil, []byte{tt.in}, tt.codec)
		if v := int16(binary.LittleEndian.Uint16(got)); len(got) != 2 || v != tt.want {
			t.Errorf("%v %#02x = %d, want %d", tt.codec, tt.in, v, tt.want)
		}
	}
	for i := range 128 {
		if alawTable[i] != -alawTable[i|0x80] || ulawTable[i] != -ulawTable[i|0x80] {
			t.Fatalf("byte %#02x: sign is not symmetric", i)
		}
	}
	if got := AppendLPCM([]byte{1}, []byte{0xd5, 0xd5}, AAC); len(got) != 1 {
		t.Error("AAC must not be expanded")
	}
}
