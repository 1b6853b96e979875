package fmp4

import (
	"encoding/binary"
)

// Movie is the first video track of a whole MP4 file held in memory:
// progressive (sample tables: stsz, stsc, stco/co64) or fragmented
// (moof+mdat, one track per fragment), as the daemon records and as ffmpeg
// remuxes. The tools that read other people's files (mbdump) read them here.
type Movie struct {
	Init    InitInfo
	TrackID uint32
	// Samples are in decode order, views into the file: the progressive
	// sample table's first, then every fragment's.
	Samples [][]byte
}

// videoEntries are the sample entries ReadMovie takes a track of.
var videoEntries = map[string]bool{"avc1": true, "avc3": true, "hvc1": true, "hev1": true}

// ReadMovie reads the first H.264 or H.265 track of an MP4 file. A box torn
// at the end of the file ends the reading of the boxes before it (a file
// whose moov lies past the tear is an error). It never panics on arbitrary
// input and keeps no more than one sample reference per byte of input.
func ReadMovie(data []byte) (Movie, error) {
	var m Movie
	var moov []byte
	type moof struct {
		off int
		box []byte
	}
	var moofs []moof
	topErr := eachBoxAt(data, func(typ string, off int, box, body []byte) error {
		switch typ {
		case "moov":
			if moov == nil {
				moov = body
			}
		case "moof":
			moofs = append(moofs, moof{off, box})
		}
		return nil
	})
	if moov == nil {
		if topErr != nil {
			return m, topErr
		}
		return m, malformed("no moov")
	}
	var tr track
	found := false
	var trakErr error
	err := eachBox(moov, func(typ string, p []byte) error {
		if typ != "trak" || found {
			return nil
		}
		t, err := parseTrak(p)
		if err != nil {
			trakErr = err
			return nil
		}
		if videoEntries[t.info.SampleEntry] {
			tr, found = t, true
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	if !found {
		if trakErr != nil {
			return m, trakErr
		}
		return m, malformed("no H.264 or H.265 track")
	}
	m.Init, m.TrackID = tr.info, tr.id
	if m.Samples, err = tableSamples(data, tr.stbl); err != nil {
		return m, err
	}
	for _, mf := range moofs {
		f, err := ParseMoof(mf.box, int64(mf.off))
		if err != nil {
			return m, err
		}
		for _, s := range f.Samples {
			end := s.Offset + int64(s.Size)
			if !within(s.Offset, int64(s.Size), len(data)) {
				return m, malformed("fragment at %d: sample runs past the file", mf.off)
			}
			if len(m.Samples) >= len(data) {
				return m, malformed("more samples than bytes")
			}
			m.Samples = append(m.Samples, data[s.Offset:end])
		}
	}
	return m, nil
}

// tableSamples returns the samples a progressive MP4's sample table
// places in data (none for a fragmented file's empty table).
func tableSamples(data, stbl []byte) ([][]byte, error) {
	var stsz, stsc, stco, co64 []byte
	if err := eachBox(stbl, func(typ string, p []byte) error {
		switch typ {
		case "stsz":
			stsz = p
		case "stsc":
			stsc = p
		case "stco":
			stco = p
		case "co64":
			co64 = p
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(stsz) < 12 {
		return nil, nil
	}
	fixed := binary.BigEndian.Uint32(stsz[4:])
	count := uint64(binary.BigEndian.Uint32(stsz[8:]))
	if count == 0 {
		return nil, nil
	}
	if count > uint64(len(data)) || (fixed == 0 && count*4 > uint64(len(stsz)-12)) {
		return nil, malformed("stsz: %d samples", count)
	}
	size := func(i int) int64 {
		if fixed != 0 {
			return int64(fixed)
		}
		return int64(binary.BigEndian.Uint32(stsz[12+4*i:]))
	}
	// Chunk offsets: 32-bit (stco) or 64-bit (co64).
	co, width := stco, 4
	if len(co) < 8 {
		co, width = co64, 8
	}
	if len(co) < 8 {
		return nil, malformed("sample table without chunk offsets")
	}
	nc := uint64(binary.BigEndian.Uint32(co[4:]))
	if nc*uint64(width) > uint64(len(co)-8) {
		return nil, malformed("chunk offsets: %d chunks", nc)
	}
	chunks := make([]int64, nc)
	for i := range chunks {
		p := co[8+width*i:]
		if width == 4 {
			chunks[i] = int64(binary.BigEndian.Uint32(p))
		} else {
			chunks[i] = int64(binary.BigEndian.Uint64(p))
		}
	}
	type run struct{ first, per uint32 }
	var runs []run
	if len(stsc) < 8 {
		return nil, malformed("sample table without stsc")
	}
	n := uint64(binary.BigEndian.Uint32(stsc[4:]))
	if n*12 > uint64(len(stsc)-8) {
		return nil, malformed("stsc: %d entries", n)
	}
	for i := range int(n) {
		r := run{binary.BigEndian.Uint32(stsc[8+12*i:]), binary.BigEndian.Uint32(stsc[12+12*i:])}
		if r.first == 0 {
			return nil, malformed("stsc: chunk 0")
		}
		runs = append(runs, r)
	}
	out := make([][]byte, 0, count)
	ri, per := 0, uint32(0)
	for c := 0; c < len(chunks) && len(out) < int(count); c++ {
		for ri < len(runs) && uint64(c)+1 >= uint64(runs[ri].first) {
			per = runs[ri].per
			ri++
		}
		off := chunks[c]
		for k := uint32(0); k < per && len(out) < int(count); k++ {
			sz := size(len(out))
			if !within(off, sz, len(data)) {
				return nil, malformed("sample %d runs past the file", len(out))
			}
			out = append(out, data[off:off+sz])
			off += sz
		}
	}
	if len(out) < int(count) {
		return nil, malformed("sample table places %d of %d samples", len(out), count)
	}
	return out, nil
}

// within says whether size bytes at off lie in a file of n bytes (without
// overflowing).
func within(off, size int64, n int) bool {
	return off >= 0 && size >= 0 && off <= int64(n) && size <= int64(n)-off
}

// AVCConfig is what an avcC box body (ISO/IEC 14496-15 5.3.3.1) says.
type AVCConfig struct {
	LengthSize int // bytes of each NAL unit's length in a sample, 1 to 4
	SPS, PPS   [][]byte
}

// ParseAVCConfig reads an avcC box body (InitInfo.Config of an avc1 track).
func ParseAVCConfig(b []byte) (AVCConfig, error) {
	var c AVCConfig
	if len(b) < 6 || b[0] != 1 {
		return c, malformed("avcC: %d bytes, version %v", len(b), b[:min(len(b), 1)])
	}
	c.LengthSize = int(b[4]&3) + 1
	p := b[5:]
	for k, sets := range []*[][]byte{&c.SPS, &c.PPS} {
		if len(p) < 1 {
			return c, malformed("truncated avcC")
		}
		n := int(p[0])
		if k == 0 {
			n &= 0x1f
		}
		p = p[1:]
		for range n {
			if len(p) < 2 || int(binary.BigEndian.Uint16(p)) > len(p)-2 {
				return c, malformed("truncated avcC")
			}
			l := int(binary.BigEndian.Uint16(p))
			*sets = append(*sets, p[2:2+l])
			p = p[2+l:]
		}
	}
	return c, nil
}

// SplitSample cuts a sample into its NAL units, each preceded by its
// length in lengthSize bytes (4 in what this package writes).
func SplitSample(s []byte, lengthSize int) ([][]byte, error) {
	if lengthSize < 1 || lengthSize > 4 {
		return nil, malformed("NAL unit length of %d bytes", lengthSize)
	}
	var nalus [][]byte
	for len(s) > 0 {
		if len(s) < lengthSize {
			return nil, malformed("truncated NAL unit length")
		}
		n := 0
		for _, c := range s[:lengthSize] {
			n = n<<8 | int(c)
		}
		s = s[lengthSize:]
		if n > len(s) {
			return nil, malformed("NAL unit of %d bytes runs past its sample", n)
		}
		nalus = append(nalus, s[:n])
		s = s[n:]
	}
	return nalus, nil
}
