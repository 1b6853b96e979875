package h264

import (
	"bytes"
	"testing"
)

func TestNALUnits(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{1, 2, 3, 4}, nil},
		{"three and four byte start codes", []byte{0, 0, 0, 1, 0xa, 0xb, 0, 0, 1, 0xc, 0, 0, 0, 0, 1, 0xd, 0xe},
			[][]byte{{0xa, 0xb}, {0xc}, {0xd, 0xe}}},
		{"trailing zeros dropped", []byte{0, 0, 1, 0x65, 0x88, 0, 0, 0}, [][]byte{{0x65, 0x88}}},
		{"empty units skipped", []byte{0, 0, 1, 0, 0, 1, 0x41, 0, 0, 1}, [][]byte{{0x41}}},
		{"garbage before the first start code", []byte{9, 9, 0, 0, 1, 0x67}, [][]byte{{0x67}}},
		{"emulation prevention kept", []byte{0, 0, 1, 0x41, 0, 0, 3, 1}, [][]byte{{0x41, 0, 0, 3, 1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := NALUnits(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d units %x, want %d %x", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("unit %d: %x, want %x", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestSplitAnnexBStops(t *testing.T) {
	n := 0
	SplitAnnexB([]byte{0, 0, 1, 1, 0, 0, 1, 2, 0, 0, 1, 3}, func([]byte) bool {
		n++
		return n < 2
	})
	if n != 2 {
		t.Errorf("fn called %d times after returning false at the 2nd unit", n)
	}
}

// FuzzSplitAnnexB: on any bytes the splitter returns non-empty units in
// order, each a view of the input right after a start code, with no start
// code inside and no trailing zero byte; and the units written back with
// start codes give the same units again.
func FuzzSplitAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88, 0})
	f.Add([]byte{0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		units := NALUnits(data)
		pos := 0
		var again []byte
		for i, u := range units {
			if len(u) == 0 {
				t.Fatalf("unit %d empty", i)
			}
			if u[len(u)-1] == 0 {
				t.Fatalf("unit %d ends in a zero byte: %x", i, u)
			}
			if bytes.Contains(u, []byte{0, 0, 1}) {
				t.Fatalf("unit %d holds a start code: %x", i, u)
			}
			// u is data[at:at+len(u)] with data's capacity: its offset is
			// the difference of the capacities.
			at := cap(data) - cap(u)
			if at < pos || at+len(u) > len(data) || &data[at] != &u[0] {
				t.Fatalf("unit %d %x is not a view into the input after %d", i, u, pos)
			}
			if at < 3 || !bytes.Equal(data[at-3:at], []byte{0, 0, 1}) {
				t.Fatalf("unit %d at %d does not follow a start code", i, at)
			}
			pos = at + len(u)
			again = append(append(again, 0, 0, 1), u...)
		}
		units2 := NALUnits(again)
		if len(units2) != len(units) {
			t.Fatalf("re-split: %d units, want %d", len(units2), len(units))
		}
		for i := range units {
			if !bytes.Equal(units[i], units2[i]) {
				t.Fatalf("re-split unit %d: %x, want %x", i, units2[i], units[i])
			}
		}
	})
}
