package mbdump

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A small MP4 reader: enough of ISO/IEC 14496-12 and -15 to take the H.264
// access units of the first avc1 track out of a progressive MP4 (stbl
// sample tables) or a fragmented one (moof/trun), as recorded by the daemon.

type box struct {
	typ  string
	body []byte
	off  int // offset of the box's start in the file
}

// boxes lists the boxes in b (which starts at file offset base).
func boxes(b []byte, base int) ([]box, error) {
	var out []box
	for i := 0; i < len(b); {
		if len(b)-i < 8 {
			return out, errors.New("truncated box header")
		}
		size := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		hdr := 8
		switch size {
		case 0:
			size = len(b) - i
		case 1:
			if len(b)-i < 16 {
				return out, errors.New("truncated box header")
			}
			s64 := binary.BigEndian.Uint64(b[i+8:])
			if s64 > uint64(len(b)-i) {
				return out, fmt.Errorf("box %q runs past its parent", typ)
			}
			size, hdr = int(s64), 16
		}
		if size < hdr || size > len(b)-i {
			return out, fmt.Errorf("box %q of size %d runs past its parent", typ, size)
		}
		out = append(out, box{typ: typ, body: b[i+hdr : i+size], off: base + i})
		i += size
	}
	return out, nil
}

func child(b []byte, path ...string) []byte {
	for _, p := range path {
		bs, _ := boxes(b, 0)
		found := false
		for _, x := range bs {
			if x.typ == p {
				b, found = x.body, true
				break
			}
		}
		if !found {
			return nil
		}
	}
	return b
}

type avcTrack struct {
	id         uint32
	lenSize    int
	params     [][]byte
	stbl       []byte
	sampleDesc bool
}

func findAVCTrack(moov []byte) (*avcTrack, error) {
	traks, err := boxes(moov, 0)
	if err != nil {
		return nil, fmt.Errorf("moov: %w", err)
	}
	for _, t := range traks {
		if t.typ != "trak" {
			continue
		}
		tkhd := child(t.body, "tkhd")
		stbl := child(t.body, "mdia", "minf", "stbl")
		stsd := child(stbl, "stsd")
		if len(tkhd) < 24 || len(stsd) < 8 {
			continue
		}
		var id uint32
		if tkhd[0] == 1 {
			if len(tkhd) < 24 {
				continue
			}
			id = binary.BigEndian.Uint32(tkhd[20:])
		} else {
			id = binary.BigEndian.Uint32(tkhd[12:])
		}
		entries, err := boxes(stsd[8:], 0)
		if err != nil || len(entries) == 0 || (entries[0].typ != "avc1" && entries[0].typ != "avc3") {
			continue
		}
		// VisualSampleEntry: 78 bytes before its child boxes.
		if len(entries[0].body) < 78 {
			return nil, errors.New("avc1 sample entry too short")
		}
		avcC := child(entries[0].body[78:], "avcC")
		tr := &avcTrack{id: id, stbl: stbl}
		if len(avcC) < 7 {
			return nil, errors.New("avc1 track without avcC")
		}
		tr.lenSize = int(avcC[4]&3) + 1
		p := avcC[5:]
		for k := 0; k < 2; k++ {
			if len(p) < 1 {
				return nil, errors.New("truncated avcC")
			}
			n := int(p[0])
			if k == 0 {
				n &= 0x1f
			}
			p = p[1:]
			for j := 0; j < n; j++ {
				if len(p) < 2 || int(binary.BigEndian.Uint16(p)) > len(p)-2 {
					return nil, errors.New("truncated avcC")
				}
				l := int(binary.BigEndian.Uint16(p))
				tr.params = append(tr.params, p[2:2+l])
				p = p[2+l:]
			}
		}
		return tr, nil
	}
	return nil, errors.New("no H.264 (avc1) track")
}

// splitSample cuts a length-prefixed sample into NAL units.
func splitSample(s []byte, lenSize int) ([][]byte, error) {
	var au [][]byte
	for len(s) > 0 {
		if len(s) < lenSize {
			return nil, errors.New("truncated NAL unit length")
		}
		n := 0
		for k := 0; k < lenSize; k++ {
			n = n<<8 | int(s[k])
		}
		s = s[lenSize:]
		if n > len(s) {
			return nil, errors.New("NAL unit runs past its sample")
		}
		au = append(au, s[:n])
		s = s[n:]
	}
	return au, nil
}

func mp4AccessUnits(data []byte) ([][][]byte, error) {
	top, err := boxes(data, 0)
	if err != nil && len(top) == 0 {
		return nil, err
	}
	var tr *avcTrack
	for _, b := range top {
		if b.typ == "moov" {
			if tr, err = findAVCTrack(b.body); err != nil {
				return nil, err
			}
		}
	}
	if tr == nil {
		return nil, errors.New("no moov box")
	}
	var samples [][]byte
	// Progressive MP4: sample tables.
	if sz := child(tr.stbl, "stsz"); len(sz) >= 12 {
		s, err := stblSamples(data, tr.stbl)
		if err != nil {
			return nil, err
		}
		samples = s
	}
	// Fragmented MP4: every moof's runs.
	for _, b := range top {
		if b.typ != "moof" {
			continue
		}
		s, err := moofSamples(data, b, tr.id)
		if err != nil {
			return nil, err
		}
		samples = append(samples, s...)
	}
	aus := make([][][]byte, 0, len(samples))
	for i, s := range samples {
		au, err := splitSample(s, tr.lenSize)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		if i == 0 {
			au = append(append([][]byte(nil), tr.params...), au...)
		}
		aus = append(aus, au)
	}
	return aus, nil
}

func u32(b []byte, i int) (uint32, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[i:]), true
}

func stblSamples(data, stbl []byte) ([][]byte, error) {
	bad := errors.New("malformed sample table")
	stsz := child(stbl, "stsz")
	fixed, _ := u32(stsz, 4)
	count, ok := u32(stsz, 8)
	if !ok || int64(count) > int64(len(data)) || (fixed == 0 && int64(count)*4 > int64(len(stsz))) {
		return nil, bad
	}
	sizes := make([]int, count)
	for i := range sizes {
		if fixed != 0 {
			sizes[i] = int(fixed)
			continue
		}
		v, ok := u32(stsz, 12+4*i)
		if !ok {
			return nil, bad
		}
		sizes[i] = int(v)
	}
	var offsets []int64
	if co := child(stbl, "stco"); co != nil {
		n, _ := u32(co, 4)
		for i := 0; i < int(n); i++ {
			v, ok := u32(co, 8+4*i)
			if !ok {
				return nil, bad
			}
			offsets = append(offsets, int64(v))
		}
	} else if co := child(stbl, "co64"); co != nil {
		n, _ := u32(co, 4)
		for i := 0; i < int(n); i++ {
			hi, ok1 := u32(co, 8+8*i)
			lo, ok2 := u32(co, 12+8*i)
			if !ok1 || !ok2 {
				return nil, bad
			}
			offsets = append(offsets, int64(hi)<<32|int64(lo))
		}
	}
	stsc := child(stbl, "stsc")
	nsc, _ := u32(stsc, 4)
	type run struct{ first, per int }
	var runs []run
	for i := 0; i < int(nsc); i++ {
		f, ok1 := u32(stsc, 8+12*i)
		p, ok2 := u32(stsc, 12+12*i)
		if !ok1 || !ok2 || f == 0 {
			return nil, bad
		}
		runs = append(runs, run{int(f), int(p)})
	}
	var out [][]byte
	s := 0
	ri, per := 0, 0
	for c := 0; c < len(offsets) && s < len(sizes); c++ {
		for ri < len(runs) && c+1 >= runs[ri].first {
			per = runs[ri].per
			ri++
		}
		off := offsets[c]
		for k := 0; k < per && s < len(sizes); k++ {
			if off < 0 || off+int64(sizes[s]) > int64(len(data)) {
				return nil, fmt.Errorf("sample %d runs past the file", s)
			}
			out = append(out, data[off:off+int64(sizes[s])])
			off += int64(sizes[s])
			s++
		}
	}
	return out, nil
}

func moofSamples(data []byte, moof box, track uint32) ([][]byte, error) {
	bad := errors.New("malformed movie fragment")
	trafs, err := boxes(moof.body, 0)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, traf := range trafs {
		if traf.typ != "traf" {
			continue
		}
		tfhd := child(traf.body, "tfhd")
		flags, ok := u32(tfhd, 0)
		id, ok2 := u32(tfhd, 4)
		if !ok || !ok2 {
			return nil, bad
		}
		if id != track {
			continue
		}
		flags &= 0xffffff
		base := int64(moof.off)
		p := 8
		if flags&1 != 0 {
			hi, _ := u32(tfhd, p)
			lo, ok := u32(tfhd, p+4)
			if !ok {
				return nil, bad
			}
			base = int64(hi)<<32 | int64(lo)
			p += 8
		}
		if flags&2 != 0 {
			p += 4
		}
		if flags&8 != 0 {
			p += 4
		}
		defSize := 0
		if flags&0x10 != 0 {
			v, ok := u32(tfhd, p)
			if !ok {
				return nil, bad
			}
			defSize = int(v)
		}
		parts, _ := boxes(traf.body, 0)
		for _, t := range parts {
			if t.typ != "trun" {
				continue
			}
			tf, _ := u32(t.body, 0)
			tf &= 0xffffff
			n, ok := u32(t.body, 4)
			if !ok || n > 1<<20 {
				return nil, bad
			}
			q := 8
			off := base
			if tf&1 != 0 {
				v, ok := u32(t.body, q)
				if !ok {
					return nil, bad
				}
				off = base + int64(int32(v))
				q += 4
			}
			if tf&4 != 0 {
				q += 4
			}
			for i := 0; i < int(n); i++ {
				size := defSize
				if tf&0x100 != 0 {
					q += 4
				}
				if tf&0x200 != 0 {
					v, ok := u32(t.body, q)
					if !ok {
						return nil, bad
					}
					size = int(v)
					q += 4
				}
				if tf&0x400 != 0 {
					q += 4
				}
				if tf&0x800 != 0 {
					q += 4
				}
				if off < 0 || off+int64(size) > int64(len(data)) {
					return nil, fmt.Errorf("fragment sample runs past the file")
				}
				if len(out) >= len(data) {
					return nil, bad
				}
				out = append(out, data[off:off+int64(size)])
				off += int64(size)
			}
			base = off
		}
	}
	return out, nil
}
