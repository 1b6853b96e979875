package fmp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func mkbox(typ string, body ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = append(b, typ...)
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func u32s(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

// progressive is a file of 5 samples in 2 chunks (3 then 2) placed by a
// sample table, then the table: what ReadMovie must find in it.
func progressive(t testing.TB) (file []byte, samples [][]byte) {
	samples = [][]byte{{0, 0, 0, 2, 0x65, 1}, {0, 0, 0, 1, 0x41}, {0, 0, 0, 2, 0x41, 3}, {0, 0, 0, 1, 0x41}, {0, 0, 0, 3, 0x41, 5, 5}}
	file = mkbox("ftyp", []byte("isom\x00\x00\x02\x00"))
	mdatOff := len(file)
	var payload []byte
	for _, s := range samples {
		payload = append(payload, s...)
	}
	file = append(file, mkbox("mdat", payload)...)
	chunk1 := uint32(mdatOff + 8)
	chunk2 := chunk1 + uint32(len(samples[0])+len(samples[1])+len(samples[2]))
	// The init segment this package writes, its empty table replaced.
	init, err := InitSegment(fuzzStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseInit(init)
	if err != nil {
		t.Fatal(err)
	}
	entry := make([]byte, 78)
	binary.BigEndian.PutUint16(entry[24:], uint16(info.Width))
	binary.BigEndian.PutUint16(entry[26:], uint16(info.Height))
	stsd := mkbox("stsd", u32s(0, 1), mkbox("avc1", entry, mkbox("avcC", info.Config)))
	var sizes []uint32
	for _, s := range samples {
		sizes = append(sizes, uint32(len(s)))
	}
	stbl := mkbox("stbl", stsd,
		mkbox("stsz", u32s(0, 0, uint32(len(samples))), u32s(sizes...)),
		mkbox("stsc", u32s(0, 2, 1, 3, 1, 2, 2, 1)),
		mkbox("stco", u32s(0, 2, chunk1, chunk2)))
	trak := mkbox("trak", mkbox("tkhd", u32s(0, 0, 0, 7, 0)),
		mkbox("mdia", mkbox("mdhd", u32s(0, 0, 0, 90000, 0)), mkbox("minf", stbl)))
	// A sound track first: ReadMovie takes the first video track.
	sound := mkbox("trak", mkbox("tkhd", u32s(0, 0, 0, 2, 0)),
		mkbox("mdia", mkbox("mdhd", u32s(0, 0, 0, 48000, 0)), mkbox("minf", mkbox("stbl", mkbox("stsd", u32s(0, 1), mkbox("mp4a", make([]byte, 28)))))))
	return append(file, mkbox("moov", sound, trak)...), samples
}

func TestReadMovieProgressive(t *testing.T) {
	file, want := progressive(t)
	m, err := ReadMovie(file)
	if err != nil {
		t.Fatal(err)
	}
	if m.TrackID != 7 || m.Init.SampleEntry != "avc1" || m.Init.Timescale != 90000 {
		t.Errorf("track %d %s @%d, want 7 avc1 @90000", m.TrackID, m.Init.SampleEntry, m.Init.Timescale)
	}
	if len(m.Samples) != len(want) {
		t.Fatalf("%d samples, want %d", len(m.Samples), len(want))
	}
	for i := range want {
		if !bytes.Equal(m.Samples[i], want[i]) {
			t.Errorf("sample %d: % x, want % x", i, m.Samples[i], want[i])
		}
	}
	cfg, err := ParseAVCConfig(m.Init.Config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LengthSize != 4 || len(cfg.SPS) != 1 || !bytes.Equal(cfg.SPS[0], fuzzStream.SPS) || len(cfg.PPS) != 1 || !bytes.Equal(cfg.PPS[0], fuzzStream.PPS) {
		t.Errorf("avcC: %+v", cfg)
	}
}

// TestReadMovieFragmented: the daemon's own segments read back sample by
// sample, NAL unit by NAL unit.
func TestReadMovieFragmented(t *testing.T) {
	m, err := ReadMovie(seedSegment(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Samples) != 15 || m.Init.SampleEntry != "avc1" {
		t.Fatalf("%d samples of %s, want 15 of avc1", len(m.Samples), m.Init.SampleEntry)
	}
	for i, s := range m.Samples {
		nalus, err := SplitSample(s, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(nalus) != 1 || !bytes.Equal(nalus[0], []byte{0x65, byte(i % 5), 2, 3}) {
			t.Errorf("sample %d: %x", i, nalus)
		}
	}
}

func TestReadMovieRejects(t *testing.T) {
	file, _ := progressive(t)
	seg := seedSegment(t)
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"no moov", mkbox("ftyp", []byte("isom"))},
		{"moov torn", file[:len(file)-3]},
		{"only a sound track", mkbox("moov", mkbox("trak", mkbox("mdia", mkbox("mdhd", u32s(0, 0, 0, 48000, 0)), mkbox("minf", mkbox("stbl", mkbox("stsd", u32s(0, 1), mkbox("mp4a", make([]byte, 78))))))))},
		{"fragment past the file", seg[:len(seg)-1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadMovie(tt.in); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

func TestTableSamplesBounds(t *testing.T) {
	data := make([]byte, 100)
	for _, tt := range []struct {
		name string
		stbl []byte
	}{
		{"chunk offset past the file", mkbox("stbl", mkbox("stsz", u32s(0, 4, 1)), mkbox("stsc", u32s(0, 1, 1, 1, 1)), mkbox("stco", u32s(0, 1, 99)))},
		{"chunk offset overflowing", mkbox("stbl", mkbox("stsz", u32s(0, 4, 1)), mkbox("stsc", u32s(0, 1, 1, 1, 1)), mkbox("co64", u32s(0, 1, 0x7fffffff, 0xffffffff)))},
		{"more samples than bytes", mkbox("stbl", mkbox("stsz", u32s(0, 1, 1000)), mkbox("stsc", u32s(0, 1, 1, 1, 1)), mkbox("stco", u32s(0, 1, 0)))},
		{"sizes missing", mkbox("stbl", mkbox("stsz", u32s(0, 0, 3, 1)), mkbox("stsc", u32s(0, 1, 1, 1, 1)), mkbox("stco", u32s(0, 1, 0)))},
		{"no chunk offsets", mkbox("stbl", mkbox("stsz", u32s(0, 4, 1)), mkbox("stsc", u32s(0, 1, 1, 1, 1)))},
		{"chunk 0", mkbox("stbl", mkbox("stsz", u32s(0, 4, 1)), mkbox("stsc", u32s(0, 1, 0, 1, 1)), mkbox("stco", u32s(0, 1, 0)))},
		{"samples left unplaced", mkbox("stbl", mkbox("stsz", u32s(0, 4, 3)), mkbox("stsc", u32s(0, 1, 1, 1, 1)), mkbox("stco", u32s(0, 1, 0)))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tableSamples(data, tt.stbl[8:]); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

func TestSplitSampleAndAVCConfig(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		size int
		want int // NAL units, -1 error
	}{
		{[]byte{0, 2, 0x65, 1, 0, 1, 0x41}, 2, 2},
		{[]byte{2, 0x65, 1}, 1, 1},
		{nil, 4, 0},
		{[]byte{0, 0, 0, 9, 1}, 4, -1},
		{[]byte{0, 0}, 4, -1},
		{[]byte{1, 1}, 5, -1},
	} {
		got, err := SplitSample(tt.in, tt.size)
		if (tt.want < 0) != (err != nil) || (err == nil && len(got) != tt.want) {
			t.Errorf("SplitSample(% x, %d) = %x, %v; want %d units", tt.in, tt.size, got, err, tt.want)
		}
	}
	for _, bad := range [][]byte{nil, {1, 0x42, 0, 0x1e, 0xff}, {0, 0x42, 0, 0x1e, 0xff, 0xe0, 0}, {1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 9, 0x67}} {
		if _, err := ParseAVCConfig(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseAVCConfig(% x): %v, want ErrMalformed", bad, err)
		}
	}
}

// FuzzReadMovie: on any bytes ReadMovie does not panic, and the samples it
// returns lie within the input.
func FuzzReadMovie(f *testing.F) {
	file, _ := progressive(f)
	f.Add(file)
	f.Add(seedSegment(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMovie(data)
		if err != nil {
			return
		}
		for i, s := range m.Samples {
			if len(s) > 0 && (cap(s) > cap(data) || &data[cap(data)-cap(s)] != &s[0]) {
				t.Fatalf("sample %d is not a view into the input", i)
			}
		}
		if cfg, err := ParseAVCConfig(m.Init.Config); err == nil && len(m.Samples) > 0 {
			SplitSample(m.Samples[0], cfg.LengthSize)
		}
	})
}
