package fmp4

import (
	"bytes"
	"errors"
	"testing"

	"github.com/matthan/matthan/daemon/media"
)

var fuzzStream = media.Stream{
	Codec: media.H264,
	SPS:   []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60},
	PPS:   []byte{0x68, 0xce, 0x3c, 0x80},
}

func seedSegment(t testing.TB) []byte {
	init, err := InitSegment(fuzzStream)
	if err != nil {
		t.Fatal(err)
	}
	var b FragmentBuilder
	out := append([]byte(nil), init...)
	for f := range 3 {
		b.Reset()
		for i := range 5 {
			b.AddNALUs(media.H264, [][]byte{{0x65, byte(i), 2, 3}}, Sample{Duration: 3600, Key: i == 0, PTSOffset: int32(i)})
		}
		out = append(out, b.Encode(uint32(f+1), uint64(f)*18000)...)
	}
	return out
}

// FuzzScanSegment: the reader used by repair and export never panics on
// arbitrary bytes, and what it calls valid lies within the input.
func FuzzScanSegment(f *testing.F) {
	seg := seedSegment(f)
	f.Add(seg)
	f.Add(seg[:len(seg)-10])
	f.Add(seg[:100])
	f.Add([]byte("\x00\x00\x00\x01moov\x00\x00\x00\x00\x00\x00\x00\x10"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ScanSegment(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if l.ValidSize > int64(len(data)) || l.ValidSize < l.InitSize {
			t.Fatalf("valid size %d, init %d, input %d", l.ValidSize, l.InitSize, len(data))
		}
		for _, fr := range l.Fragments {
			for _, s := range fr.Samples {
				if s.Offset < 0 || s.Offset+int64(s.Size) > int64(len(data)) {
					t.Fatalf("sample outside the input: %+v", s)
				}
			}
		}
		ParseInit(data[:l.InitSize])
		StripAudioInit(data[:l.InitSize])
	})
}

// FuzzParseMoof: a single moof parser on arbitrary bytes.
func FuzzParseMoof(f *testing.F) {
	var b FragmentBuilder
	b.AddNALUs(media.H264, [][]byte{{0x65, 1}}, Sample{Duration: 1, Key: true})
	frag := b.Encode(1, 0)
	moofSize := int(frag[0])<<24 | int(frag[1])<<16 | int(frag[2])<<8 | int(frag[3])
	f.Add(append([]byte(nil), frag[:moofSize]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseMoof(data, 0)
		StripAudioMoof(data)
	})
}

// FuzzParseSPS: camera bytes never take the caller down (mediacommon's
// parsers run behind a recover), and a size read is not negative.
func FuzzParseSPS(f *testing.F) {
	if _, err := ParseSPS(media.Codec(99), nil); !errors.Is(err, ErrUnsupported) {
		f.Errorf("unknown codec: %v, want ErrUnsupported", err)
	}
	f.Add(fuzzStream.SPS, false)
	f.Add([]byte{0x42, 0x01, 0x01, 0x01, 0x60, 0, 0, 3, 0, 0x90, 0, 0, 3, 0, 0, 3, 0, 0x5d, 0xa0, 2, 0x80, 0x80, 0x2d, 0x16}, true)
	f.Fuzz(func(t *testing.T, sps []byte, hevc bool) {
		codec := media.H264
		if hevc {
			codec = media.H265
		}
		info, err := ParseSPS(codec, sps)
		if err == nil && (info.Width < 0 || info.Height < 0 || info.Codec == "") {
			t.Fatalf("parsed %+v", info)
		}
	})
}
