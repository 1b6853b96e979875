package fmp4

import (
	"bytes"
	"testing"

	"github.com/matthan/matthan/daemon/media"
)

// TestStripAudio: a two-track init and fragment lose their audio track and
// still describe the same video samples (same bytes, same times); ones
// without audio come back as they were.
func TestStripAudio(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc6, 0x0c, 0xa8}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	st := media.Stream{Codec: media.H264, SPS: sps, PPS: pps, Audio: &media.Audio{Codec: media.PCMU, SampleRate: 8000, Channels: 1}}
	init, err := InitSegment(st)
	if err != nil {
		t.Fatal(err)
	}
	stripped, err := StripAudioInit(init)
	if err != nil {
		t.Fatal(err)
	}
	si, err := ParseInit(stripped)
	if err != nil || si.Audio != nil || si.SampleEntry != "avc1" || si.Width != 1280 {
		t.Fatalf("stripped init: %+v, %v", si, err)
	}
	st.Audio = nil
	plain, _ := InitSegment(st)
	if got, _ := StripAudioInit(plain); !bytes.Equal(got, plain) {
		t.Error("an init without audio was changed")
	}

	var v, a FragmentBuilder
	v.AddNALUs(media.H264, [][]byte{{0x65, 1, 2, 3}}, Sample{Duration: 3600, Key: true})
	v.AddNALUs(media.H264, [][]byte{{0x41, 4, 5}}, Sample{Duration: 3600})
	a.AddLPCM([]byte{0xff, 0x7f, 0x80}, media.PCMU, Sample{Duration: 3, Key: true})
	hdr := v.HeaderAV(7, 90000, &a, 8000)
	frag := append(append(append([]byte{}, hdr...), v.Payload()...), a.Payload()...)
	moofLen := int(uint32(hdr[0])<<24 | uint32(hdr[1])<<16 | uint32(hdr[2])<<8 | uint32(hdr[3]))
	orig, err := ParseMoof(hdr[:moofLen], 0)
	if err != nil || len(orig.Audio) != 1 || orig.AudioBaseTime != 8000 {
		t.Fatalf("two-track moof: %+v, %v", orig, err)
	}
	sm, err := StripAudioMoof(hdr[:moofLen])
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte{}, sm...), frag[moofLen:]...)
	got, err := ParseMoof(sm, 0)
	if err != nil || len(got.Audio) != 0 || len(got.Samples) != 2 || got.BaseTime != 90000 || got.Seq != 7 {
		t.Fatalf("stripped moof: %+v, %v", got, err)
	}
	for i, s := range got.Samples {
		o := orig.Samples[i]
		if !bytes.Equal(out[s.Offset:s.Offset+int64(s.Size)], frag[o.Offset:o.Offset+int64(o.Size)]) || s.Duration != o.Duration || s.Key != o.Key {
			t.Errorf("sample %d differs after stripping", i)
		}
	}
	one := v.Header(1, 0)
	if got, _ := StripAudioMoof(one[:len(one)-8]); !bytes.Equal(got, one[:len(one)-8]) {
		t.Error("a one-track moof was changed")
	}
}
