package bits

import "testing"

func TestReaderFields(t *testing.T) {
	// 1 | 010 | 011 | 00100 | 00101 | 0001000 | 101 ...
	// ue: 0, 1, 2, 3, 4, 7
	r := &Reader{}
	r.Reset([]byte{0b10100110, 0b01000010, 0b10001000, 0b10100000})
	for i, want := range []uint32{0, 1, 2, 3, 4, 7} {
		if got := r.UE(); got != want {
			t.Fatalf("ue #%d: got %d, want %d", i, got, want)
		}
	}
	if got := r.U(3); got != 0b101 {
		t.Fatalf("u(3): got %b, want 101", got)
	}
	if r.Err() != nil {
		t.Fatalf("unexpected error %v", r.Err())
	}
	r.U(32)
	if r.Err() != ErrExhausted {
		t.Fatalf("got err %v, want ErrExhausted", r.Err())
	}
}

func TestSE(t *testing.T) {
	for _, tt := range []struct {
		bits []byte
		want int32
	}{
		{[]byte{0b10000000}, 0},
		{[]byte{0b01000000}, 1},
		{[]byte{0b01100000}, -1},
		{[]byte{0b00100000}, 2},
		{[]byte{0b00101000}, -2},
	} {
		r := &Reader{}
		r.Reset(tt.bits)
		if got := r.SE(); got != tt.want {
			t.Errorf("se(%08b): got %d, want %d", tt.bits[0], got, tt.want)
		}
	}
}

func TestLongGolombAndExhaustion(t *testing.T) {
	r := &Reader{}
	// 20 zeros, a one, 20 bits of value.
	r.Reset([]byte{0, 0, 0b00001000, 0, 0x01, 0})
	v := r.UE()
	if want := uint32(1<<20-1) + 2; v != want || r.Err() != nil {
		t.Fatalf("got %d err %v, want %d", v, r.Err(), want)
	}
	r.Reset(nil)
	if r.UE() != 0 || r.Err() == nil {
		t.Fatal("empty reader must fail")
	}
}

func TestMoreRBSPData(t *testing.T) {
	r := &Reader{}
	r.Reset([]byte{0b10110000})
	r.U(2)
	if !r.MoreRBSPData() {
		t.Fatal("want more data before the stop bit")
	}
	r.U(1)
	if r.MoreRBSPData() {
		t.Fatal("stop bit is next: want no more data")
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &Reader{}
		r.Reset(b)
		for i := 0; i < 1000 && r.Err() == nil; i++ {
			r.UE()
			r.SE()
			r.U(i % 33)
		}
		_ = r.MoreRBSPData()
	})
}
