// Package h264 parses the parts of an H.264 (ITU-T H.264 | ISO/IEC 14496-10)
// stream that describe pictures without decoding them: NAL units, sequence
// and picture parameter sets, and slice headers. The macroblock layer is
// parsed by the subpackage mb.
package h264

import (
	"errors"
	"fmt"
)

// NAL unit types used here (Table 7-1).
const (
	NALSlice    = 1
	NALSliceA   = 2
	NALSliceB   = 3
	NALSliceC   = 4
	NALIDRSlice = 5
	NALSEI      = 6
	NALSPS      = 7
	NALPPS      = 8
	NALAUD      = 9
)

// ErrUnsupported wraps every error about a stream feature this parser does
// not handle (interlaced pictures, 4:2:2, high bit depth, slice groups...).
var ErrUnsupported = errors.New("h264: unsupported stream")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)
}

// NALType is the nal_unit_type of a NAL unit (its first byte's low 5 bits).
func NALType(nal []byte) int {
	if len(nal) == 0 {
		return 0
	}
	return int(nal[0] & 0x1f)
}

// NALRefIdc is the nal_ref_idc of a NAL unit.
func NALRefIdc(nal []byte) int {
	if len(nal) == 0 {
		return 0
	}
	return int(nal[0]>>5) & 3
}

// Unescape appends to dst[:0] the RBSP of a NAL unit's payload (the bytes
// after the header) with emulation prevention bytes removed, and returns it.
// It allocates only when dst is too small.
func Unescape(dst, payload []byte) []byte {
	dst = dst[:0]
	zeros := 0
	start := 0
	for i := 0; i < len(payload); i++ {
		b := payload[i]
		if zeros >= 2 && b == 3 {
			dst = append(dst, payload[start:i]...)
			start = i + 1
			zeros = 0
			continue
		}
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return append(dst, payload[start:]...)
}

// SplitAnnexB calls fn for each NAL unit of an Annex-B byte stream (start
// codes 00 00 01 or 00 00 00 01), without the start code and without
// trailing zero bytes. It stops early when fn returns false. It is the one
// Annex-B splitter of the tree (H.264 and H.265 streams alike: the start
// codes are the same); the units are views into data.
func SplitAnnexB(data []byte, fn func(nal []byte) bool) {
	i := 0
	start := -1
	for i+2 < len(data) {
		if data[i] == 0 && data[i+1] == 0 && data[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && data[end-1] == 0 {
					end--
				}
				if end > start && !fn(data[start:end]) {
					return
				}
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		end := len(data)
		for end > start && data[end-1] == 0 {
			end--
		}
		if end > start {
			fn(data[start:end])
		}
	}
}

// NALUnits returns the NAL units of an Annex-B byte stream as SplitAnnexB
// finds them (views into data).
func NALUnits(data []byte) [][]byte {
	var out [][]byte
	SplitAnnexB(data, func(nal []byte) bool {
		out = append(out, nal)
		return true
	})
	return out
}
