package mb

import (
	"fmt"
	"sync"

	"github.com/matthan/matthan/daemon/h264/bits"
)

// vlcTable decodes one prefix code by direct lookup of its longest code
// length: entry = value a<<8 | b<<4... packed with the code length.
type vlcTable struct {
	maxLen int
	look   []uint16 // (a<<10 | b<<5 | len), 0 = invalid code
}

func buildVLC(codes []vlcEntry) *vlcTable {
	t := &vlcTable{}
	for _, c := range codes {
		if int(c.len) > t.maxLen {
			t.maxLen = int(c.len)
		}
	}
	t.look = make([]uint16, 1<<uint(t.maxLen))
	for _, c := range codes {
		shift := uint(t.maxLen - int(c.len))
		base := int(c.code) << shift
		for i := 0; i < 1<<shift; i++ {
			if t.look[base+i] != 0 {
				panic(fmt.Sprintf("h264/mb: VLC table conflict at code %b/%d", c.code, c.len))
			}
			t.look[base+i] = uint16(c.a)<<10 | uint16(c.b)<<5 | uint16(c.len)
		}
	}
	return t
}

// read decodes one code; ok is false for a bit pattern that is no code.
func (t *vlcTable) read(r *bits.Reader) (a, b int, ok bool) {
	v := t.look[r.Peek32()>>uint(32-t.maxLen)]
	if v == 0 {
		return 0, 0, false
	}
	r.Skip(int(v & 31))
	return int(v >> 10), int(v>>5) & 31, true
}

var (
	vlcOnce       sync.Once
	coeffTokenVLC [5]*vlcTable
	totalZerosVLC [15]*vlcTable
	totalZerosDC  [3]*vlcTable
	runBeforeVLC  [7]*vlcTable
)

func initVLC() {
	vlcOnce.Do(func() {
		for i := range coeffTokenCodes {
			coeffTokenVLC[i] = buildVLC(coeffTokenCodes[i])
		}
		for i := range totalZerosCodes {
			totalZerosVLC[i] = buildVLC(totalZerosCodes[i])
		}
		for i := range totalZerosDCCodes {
			totalZerosDC[i] = buildVLC(totalZerosDCCodes[i])
		}
		for i := range runBeforeCodes {
			runBeforeVLC[i] = buildVLC(runBeforeCodes[i])
		}
	})
}
