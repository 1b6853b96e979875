package h265

import (
	"bytes"
	"testing"

	"github.com/matthan/matthan/daemon/h264"
)

func TestAccessUnits(t *testing.T) {
	sc := []byte{0, 0, 1}
	vps, sps, pps := []byte{0x40, 1, 0xc}, []byte{0x42, 1, 1}, []byte{0x44, 1, 0xc0}
	idr := []byte{0x26, 1, 0xaf}   // IDR_W_RADL, first slice of its picture
	idr2 := []byte{0x26, 1, 0x2f}  // a second slice of the same picture
	trail := []byte{0x02, 1, 0xd0} // TRAIL_R, first slice
	sei := []byte{0x4e, 1, 5}      // prefix SEI
	aud := []byte{0x46, 1, 0x50}   // access unit delimiter
	var stream []byte
	for _, n := range [][]byte{vps, sps, pps, idr, idr2, sei, trail, aud, trail, {0x4e}} {
		stream = append(append(stream, sc...), n...)
	}
	var got [][][]byte
	AccessUnits(stream, func(au [][]byte) bool {
		got = append(got, append([][]byte(nil), au...))
		return true
	})
	want := [][][]byte{{vps, sps, pps, idr, idr2}, {sei, trail}, {aud, trail, {0x4e}}}
	if len(got) != len(want) {
		t.Fatalf("%d access units %x, want %d", len(got), got, len(want))
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("access unit %d: %x, want %x", i, got[i], want[i])
		}
		for j := range want[i] {
			if !bytes.Equal(got[i][j], want[i][j]) {
				t.Errorf("access unit %d unit %d: %x, want %x", i, j, got[i][j], want[i][j])
			}
		}
	}
	n := 0
	AccessUnits(stream, func([][]byte) bool { n++; return false })
	if n != 1 {
		t.Errorf("fn called %d times after returning false", n)
	}
	if !IsKey(NALType(idr)) || IsKey(NALType(trail)) || !IsVCL(NALType(trail)) || IsVCL(NALType(sps)) || NALType([]byte{0x26}) != -1 {
		t.Error("NAL unit classes")
	}
}

// FuzzAccessUnits: on any bytes, the access units hold every NAL unit
// of the stream once, in order, and none is empty.
func FuzzAccessUnits(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0x40, 1, 0xc, 0, 0, 1, 0x42, 1, 1, 0, 0, 1, 0x44, 1, 0xc0, 0, 0, 1, 0x26, 1, 0xaf, 0x11})
	f.Add([]byte{0, 0, 1, 0x26, 1, 0xaf, 0, 0, 1, 0x26, 1, 0xaf, 0, 0, 1, 0x4e, 0, 0, 1, 0x02, 1, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		var flat [][]byte
		AccessUnits(data, func(au [][]byte) bool {
			if len(au) == 0 {
				t.Fatal("empty access unit")
			}
			flat = append(flat, au...)
			return true
		})
		want := h264.NALUnits(data)
		if len(flat) != len(want) {
			t.Fatalf("%d NAL units in access units, %d in the stream", len(flat), len(want))
		}
		for i := range want {
			if &flat[i][0] != &want[i][0] || len(flat[i]) != len(want[i]) {
				t.Fatalf("NAL unit %d differs", i)
			}
		}
	})
}
