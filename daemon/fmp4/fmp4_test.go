package fmp4_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/media"
)

func TestInitSegment(t *testing.T) {
	for _, tt := range []struct {
		clip, entry string
		w, h        int
		codec       string // RFC 6381, its start
	}{
		{"moving-720p.h264", "avc1", 1280, 720, "avc1.4d401f"},
		{"moving-360p.h264", "avc1", 640, 360, "avc1."},
		{"moving-720p.hevc", "hvc1", 1280, 720, "hvc1.1.6.L"},
	} {
		t.Run(tt.clip, func(t *testing.T) {
			c := recordtest.LoadClip(t, tt.clip)
			s := c.Stream
			// The one SPS path reads the size and the browser's codec string.
			if sps, err := fmp4.ParseSPS(s.Codec, s.SPS); err != nil || sps.Width != tt.w || sps.Height != tt.h || !strings.HasPrefix(sps.Codec, tt.codec) {
				t.Errorf("ParseSPS: %+v, %v; want %dx%d %s...", sps, err, tt.w, tt.h, tt.codec)
			}
			s.Width, s.Height = 1, 1 // the SPS wins
			b, err := fmp4.InitSegment(s)
			if err != nil {
				t.Fatal(err)
			}
			info, err := fmp4.ParseInit(b)
			if err != nil {
				t.Fatal(err)
			}
			if info.SampleEntry != tt.entry || info.Width != tt.w || info.Height != tt.h || info.Timescale != fmp4.Timescale {
				t.Errorf("got %s %dx%d @%d, want %s %dx%d @%d", info.SampleEntry, info.Width, info.Height, info.Timescale, tt.entry, tt.w, tt.h, fmp4.Timescale)
			}
			if len(info.Config) < 7 || info.Config[0] != 1 {
				t.Fatalf("config record % x", info.Config)
			}
			if tt.entry == "avc1" && !bytes.Equal(info.Config[1:4], s.SPS[1:4]) {
				t.Errorf("avcC profile/level % x, SPS % x", info.Config[1:4], s.SPS[1:4])
			}
			if tt.entry == "hvc1" && info.Config[1]&0x1f != 1 { // Main profile
				t.Errorf("hvcC profile idc %d, want 1 (Main)", info.Config[1]&0x1f)
			}
		})
	}
	for _, bad := range []media.Stream{
		{Codec: media.H264},
		{Codec: media.H265, SPS: []byte{0x42, 0x01, 0x01}, PPS: []byte{0x44}},
		{Codec: media.Codec(99)}, // no such codec
		{Codec: media.H264, SPS: []byte{0x67, 0, 0, 0}, PPS: []byte{0x68}}, // unparsable SPS, no size
	} {
		if _, err := fmp4.InitSegment(bad); err == nil {
			t.Errorf("InitSegment(%v) did not fail", bad)
		}
		if sps, err := fmp4.ParseSPS(bad.Codec, bad.SPS); err == nil {
			t.Errorf("ParseSPS(%v) = %+v", bad, sps)
		}
	}
}

func TestFragmentRoundTrip(t *testing.T) {
	var b fmp4.FragmentBuilder
	type in struct {
		nalus [][]byte
		s     fmp4.Sample
	}
	samples := []in{
		{[][]byte{{0x67, 1, 2}, {0x68, 3}, {0x09, 0xf0}, {0x65, 9, 9, 9}}, fmp4.Sample{Duration: 3600, Key: true}},
		{[][]byte{{0x41, 7}}, fmp4.Sample{Duration: 3000, PTSOffset: 7200}},
		{[][]byte{{0x41, 8, 8}}, fmp4.Sample{Duration: 1, PTSOffset: -10}},
	}
	for _, s := range samples {
		b.AddNALUs(media.H264, s.nalus, s.s)
	}
	b.SetLastDuration(4200)
	out := b.Encode(7, 123456789012)
	moofSize := binary.BigEndian.Uint32(out)
	f, err := fmp4.ParseMoof(out[:moofSize], 1000)
	if err != nil {
		t.Fatal(err)
	}
	if f.Seq != 7 || f.BaseTime != 123456789012 || len(f.Samples) != 3 || f.Duration != 3600+3000+4200 {
		t.Fatalf("fragment %+v", f)
	}
	wantDur := []uint32{3600, 3000, 4200}
	for i, s := range f.Samples {
		if s.Duration != wantDur[i] || s.Key != samples[i].s.Key || s.PTSOffset != samples[i].s.PTSOffset {
			t.Errorf("sample %d: %+v, want %+v duration %d", i, s, samples[i].s, wantDur[i])
		}
		data := out[s.Offset-1000 : s.Offset-1000+int64(s.Size)]
		// AVCC: the NAL units back, minus the access unit delimiter.
		var got [][]byte
		for len(data) >= 4 {
			n := binary.BigEndian.Uint32(data)
			got = append(got, data[4:4+n])
			data = data[4+n:]
		}
		var want [][]byte
		for _, n := range samples[i].nalus {
			if n[0]&0x1f != 9 {
				want = append(want, n)
			}
		}
		if len(got) != len(want) {
			t.Errorf("sample %d: %d NAL units, want %d", i, len(got), len(want))
		}
	}
	if mdat := out[moofSize:]; string(mdat[4:8]) != "mdat" || int(binary.BigEndian.Uint32(mdat)) != len(mdat) {
		t.Errorf("mdat header % x, %d bytes follow", mdat[:8], len(mdat))
	}
}

// BenchmarkFragment: one second of 720p25 4 Mbit/s video into one fragment
// (the recorder's and the live view's hot path): no allocation once warm.
func BenchmarkFragment(b *testing.B) {
	key := make([]byte, 60000)
	key[0] = 0x65
	p := make([]byte, 18000)
	p[0] = 0x41
	var fb fmp4.FragmentBuilder
	b.ReportAllocs()
	b.SetBytes(int64(len(key) + 24*len(p)))
	seq := uint32(0)
	for b.Loop() {
		fb.Reset()
		for i := range 25 {
			n := p
			if i == 0 {
				n = key
			}
			fb.AddNALUs(media.H264, [][]byte{n}, fmp4.Sample{Duration: 3600, Key: i == 0})
		}
		seq++
		fb.Header(seq, uint64(seq)*90000)
		_ = fb.Payload()
	}
}

// TestHeaderPayload: Header followed by Payload is the fragment Encode
// builds, and it parses back to the samples added.
func TestHeaderPayload(t *testing.T) {
	var fb fmp4.FragmentBuilder
	fb.AddNALUs(media.H264, [][]byte{{0x09, 0xf0}, {0x65, 1, 2, 3}}, fmp4.Sample{Duration: 3600, Key: true})
	fb.AddNALUs(media.H264, [][]byte{{0x41, 4, 5}}, fmp4.Sample{Duration: 3000, PTSOffset: 7200})
	whole := fb.Encode(3, 90000)
	h := fb.Header(3, 90000)
	got := append(append([]byte(nil), h...), fb.Payload()...)
	if !bytes.Equal(got, whole) {
		t.Fatalf("Header+Payload differs from Encode:\n% x\n% x", got, whole)
	}
	if want := 4 + 4 + 4 + 3; len(fb.Payload()) != want {
		t.Errorf("payload %d bytes, want %d (AUD dropped, 4-byte lengths)", len(fb.Payload()), want)
	}
	if got := binary.BigEndian.Uint32(h[len(h)-8:]); int(got) != 8+len(fb.Payload()) {
		t.Errorf("mdat size %d, want %d", got, 8+len(fb.Payload()))
	}
}

// TestArenaFollowsTheStream: the payload arena grows to what a fragment
// needs plus a quarter (not doubled), and is given back after a spike once
// fragments have been small for a while.
func TestArenaFollowsTheStream(t *testing.T) {
	var fb fmp4.FragmentBuilder
	fill := func(frames, size int) {
		fb.Reset()
		n := make([]byte, size)
		n[0] = 0x41
		for range frames {
			fb.AddNALUs(media.H264, [][]byte{n}, fmp4.Sample{Duration: 3600})
		}
	}
	for _, tt := range []struct {
		name           string
		frames, size   int
		repeat         int
		minCap, maxCap int
	}{
		{"normal 4 Mbit/s", 25, 20000, 40, 25 * 20004, 25 * 20004 * 5 / 4 * 11 / 10},
		{"spike 40 Mbit/s", 25, 200000, 1, 25 * 200004, 25 * 200004 * 3 / 2},
		{"spike kept for a while", 25, 20000, 10, 25 * 200004, 25 * 200004 * 3 / 2},
		{"spike over: given back", 25, 20000, 40, 25 * 20004, 25 * 20004 * 5 / 4 * 11 / 10},
	} {
		for range tt.repeat {
			fill(tt.frames, tt.size)
		}
		if c := fb.ArenaSize(); c < tt.minCap || c > tt.maxCap {
			t.Errorf("%s: arena %d bytes, want %d..%d", tt.name, c, tt.minCap, tt.maxCap)
		}
	}
}

// TestFragmentNoAllocs: once warm, a fragment costs no allocation.
func TestFragmentNoAllocs(t *testing.T) {
	var fb fmp4.FragmentBuilder
	n := make([]byte, 18000)
	n[0] = 0x41
	frag := func() {
		fb.Reset()
		for range 25 {
			fb.AddNALUs(media.H264, [][]byte{n}, fmp4.Sample{Duration: 3600})
		}
		fb.Header(1, 0)
	}
	frag()
	if a := testing.AllocsPerRun(50, frag); a != 0 {
		t.Errorf("%v allocations per fragment, want 0", a)
	}
}
