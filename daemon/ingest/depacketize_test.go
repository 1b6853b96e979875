package ingest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/matthan/matthan/daemon/clock"
	"github.com/matthan/matthan/daemon/media"
)

type pkt struct {
	seq    uint16
	ts     uint32
	marker bool
	p      []byte
}

type gotAU struct {
	ts    uint32
	nalus [][]byte
}

func run(codec media.Codec, pkts []pkt) ([]gotAU, []error) {
	a := newAssembler(codec)
	var aus []gotAU
	var errs []error
	for _, p := range pkts {
		err := a.push(p.seq, p.ts, p.marker, p.p, func(ts uint32, nalus [][]byte) {
			var cp [][]byte
			for _, n := range nalus {
				cp = append(cp, bytes.Clone(n))
			}
			aus = append(aus, gotAU{ts, cp})
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return aus, errs
}

func TestAssemblerH264(t *testing.T) {
	idr := []byte{0x65, 1, 2, 3, 4, 5, 6}
	for _, tt := range []struct {
		name     string
		pkts     []pkt
		want     []gotAU
		wantErrs []error
	}{
		{
			name: "single NAL units, marker ends the unit",
			pkts: []pkt{{1, 100, false, []byte{0x67, 1}}, {2, 100, false, []byte{0x68, 2}}, {3, 100, true, idr}},
			want: []gotAU{{100, [][]byte{{0x67, 1}, {0x68, 2}, idr}}},
		},
		{
			name: "STAP-A",
			pkts: []pkt{{1, 5, true, []byte{0x18, 0, 2, 0x67, 1, 0, 2, 0x68, 2, 0, 3, 0x41, 9, 9}}},
			want: []gotAU{{5, [][]byte{{0x67, 1}, {0x68, 2}, {0x41, 9, 9}}}},
		},
		{
			name: "FU-A in three parts",
			pkts: []pkt{{7, 9, false, []byte{0x7c, 0x85, 1, 2}}, {8, 9, false, []byte{0x7c, 0x05, 3}}, {9, 9, true, []byte{0x7c, 0x45, 4}}},
			want: []gotAU{{9, [][]byte{{0x65, 1, 2, 3, 4}}}},
		},
		{
			name: "sequence wraps around",
			pkts: []pkt{{65535, 1, true, []byte{0x41, 1}}, {0, 2, true, []byte{0x41, 2}}},
			want: []gotAU{{1, [][]byte{{0x41, 1}}}, {2, [][]byte{{0x41, 2}}}},
		},
		{
			name:     "lost packet drops the unit, next unit survives",
			pkts:     []pkt{{1, 1, false, []byte{0x7c, 0x85, 1}}, {3, 1, true, []byte{0x7c, 0x45, 3}}, {4, 2, true, []byte{0x41, 7}}},
			want:     []gotAU{{2, [][]byte{{0x41, 7}}}},
			wantErrs: []error{errPacketLoss},
		},
		{
			name:     "FU-A middle without start",
			pkts:     []pkt{{1, 1, false, []byte{0x7c, 0x05, 1}}, {2, 1, true, []byte{0x7c, 0x45, 3}}, {3, 2, true, []byte{0x41, 7}}},
			want:     []gotAU{{2, [][]byte{{0x41, 7}}}},
			wantErrs: []error{errBadFragment},
		},
		{
			name:     "forbidden bit",
			pkts:     []pkt{{1, 1, true, []byte{0xe5, 1}}, {2, 2, true, []byte{0x41, 7}}},
			want:     []gotAU{{2, [][]byte{{0x41, 7}}}},
			wantErrs: []error{errForbiddenBit},
		},
		{
			name:     "STAP-A with a length past the end",
			pkts:     []pkt{{1, 1, true, []byte{0x18, 0, 9, 0x67}}},
			wantErrs: []error{errBadAggregate},
		},
		{
			name:     "missing marker: timestamp change drops the open unit",
			pkts:     []pkt{{1, 1, false, []byte{0x41, 1}}, {2, 2, true, []byte{0x41, 2}}},
			want:     []gotAU{{2, [][]byte{{0x41, 2}}}},
			wantErrs: []error{errMissingMarker},
		},
		{
			name:     "empty payload",
			pkts:     []pkt{{1, 1, true, nil}},
			wantErrs: []error{errShortPacket},
		},
		{
			name:     "FU-B unsupported",
			pkts:     []pkt{{1, 1, true, []byte{0x1d, 0x85, 0, 0, 1}}},
			wantErrs: []error{errUnsupported},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := run(media.H264, tt.pkts)
			checkAUs(t, got, tt.want)
			checkErrs(t, errs, tt.wantErrs)
		})
	}
}

func TestAssemblerH265(t *testing.T) {
	for _, tt := range []struct {
		name     string
		pkts     []pkt
		want     []gotAU
		wantErrs []error
	}{
		{
			name: "aggregation packet with VPS SPS PPS",
			pkts: []pkt{{1, 3, true, []byte{0x60, 1, 0, 3, 0x40, 1, 7, 0, 3, 0x42, 1, 8, 0, 3, 0x44, 1, 9}}},
			want: []gotAU{{3, [][]byte{{0x40, 1, 7}, {0x42, 1, 8}, {0x44, 1, 9}}}},
		},
		{
			name: "fragmentation unit of an IDR",
			pkts: []pkt{{1, 3, false, []byte{0x62, 1, 0x93, 5, 6}}, {2, 3, true, []byte{0x62, 1, 0x53, 7}}},
			want: []gotAU{{3, [][]byte{{0x26, 1, 5, 6, 7}}}},
		},
		{
			name:     "short aggregation packet",
			pkts:     []pkt{{1, 3, true, []byte{0x60, 1, 0}}},
			wantErrs: []error{errBadAggregate},
		},
		{
			name:     "PACI unsupported",
			pkts:     []pkt{{1, 3, true, []byte{0x64, 1, 0, 0}}},
			wantErrs: []error{errUnsupported},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := run(media.H265, tt.pkts)
			checkAUs(t, got, tt.want)
			checkErrs(t, errs, tt.wantErrs)
		})
	}
}

func checkAUs(t *testing.T, got, want []gotAU) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d access units %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		if got[i].ts != want[i].ts || len(got[i].nalus) != len(want[i].nalus) {
			t.Fatalf("unit %d: got %v, want %v", i, got[i], want[i])
		}
		for j := range got[i].nalus {
			if !bytes.Equal(got[i].nalus[j], want[i].nalus[j]) {
				t.Fatalf("unit %d NALU %d: got %x, want %x", i, j, got[i].nalus[j], want[i].nalus[j])
			}
		}
	}
}

func checkErrs(t *testing.T, got, want []error) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("errors %v, want %v", got, want)
	}
	for i := range got {
		if !errors.Is(got[i], want[i]) {
			t.Fatalf("error %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestAssemblerSteadyStateAllocs(t *testing.T) {
	a := newAssembler(media.H264)
	payloads := [][]byte{{0x7c, 0x85, 1, 2, 3}, {0x7c, 0x05, 4, 5}, {0x7c, 0x45, 6}}
	seq := uint16(0)
	ts := uint32(0)
	emit := func(uint32, [][]byte) {}
	push := func() {
		ts += 3600
		for i, p := range payloads {
			seq++
			_ = a.push(seq, ts, i == len(payloads)-1, p, emit)
		}
	}
	push()
	if n := testing.AllocsPerRun(100, push); n != 0 {
		t.Fatalf("%v allocations per access unit, want 0", n)
	}
}

var (
	mediaH264    = media.H264
	mediaH265    = media.H265
	slewDefaults = clock.Config{}
)

// TestAssemblerBigUnits: a unit larger than the assembler's own buffer (a
// key frame) goes through a borrowed buffer and comes out whole, the small
// units after it too, and the steady state of both allocates nothing (the
// large buffer goes back to the pool and is borrowed again).
func TestAssemblerBigUnits(t *testing.T) {
	a := newAssembler(media.H264)
	big := make([]byte, 3*smallAU+100)
	for i := range big {
		big[i] = byte(i * 7)
	}
	// FU-A of an IDR slice in 1000-byte pieces.
	var pkts [][]byte
	for off := 0; off < len(big); off += 1000 {
		end := min(off+1000, len(big))
		fu := byte(0x05)
		if off == 0 {
			fu |= 0x80
		}
		if end == len(big) {
			fu |= 0x40
		}
		pkts = append(pkts, append([]byte{0x7c, fu}, big[off:end]...))
	}
	var seq uint16
	var ts uint32
	var sizes [4]int
	var units int
	emit := func(_ uint32, nalus [][]byte) {
		units = len(nalus)
		for i := 0; i < len(nalus) && i < len(sizes); i++ {
			sizes[i] = len(nalus[i])
		}
		if len(nalus) == 1 && len(nalus[0]) == len(big)+1 && !bytes.Equal(nalus[0][1:], big) {
			t.Fatal("large unit damaged")
		}
		if len(nalus) == 1 && len(nalus[0]) == 4 && !bytes.Equal(nalus[0], []byte{0x41, 1, 2, 3}) {
			t.Fatalf("small unit after a large one: % x", nalus[0])
		}
	}
	key := func() {
		ts += 3600
		for i, p := range pkts {
			seq++
			if err := a.push(seq, ts, i == len(pkts)-1, p, emit); err != nil {
				t.Fatal(err)
			}
		}
		if units != 1 || sizes[0] != len(big)+1 {
			t.Fatalf("key frame: %d units, first of %d bytes", units, sizes[0])
		}
	}
	small := func() {
		ts += 3600
		seq++
		if err := a.push(seq, ts, true, []byte{0x41, 1, 2, 3}, emit); err != nil {
			t.Fatal(err)
		}
		if units != 1 || sizes[0] != 4 {
			t.Fatalf("small unit: %d units, first of %d bytes", units, sizes[0])
		}
	}
	key()
	small()
	if a.big != nil || cap(a.buf) != smallAU {
		t.Fatalf("the large buffer was kept (cap %d)", cap(a.buf))
	}
	step := func() { key(); small() }
	if n := testing.AllocsPerRun(50, step); n != 0 {
		t.Fatalf("%v allocations per key frame and picture, want 0", n)
	}
}
