// Package h265 knows the little of H.265 (ITU-T H.265 | ISO/IEC 23008-2)
// the box reads itself: NAL unit types and where access units start in an
// Annex-B stream. The byte stream is split into NAL units by
// h264.SplitAnnexB (the format is the same); parameter sets are read by
// mediacommon (fmp4.ParseSPS).
package h265

import "github.com/matthan/matthan/daemon/h264"

// NAL unit types used here (Table 7-1).
const (
	NALBLAW   = 16 // first IRAP (key) picture type
	NALCRA    = 21
	NALIRAP23 = 23 // last type reserved for IRAP pictures
	NALVPS    = 32
	NALSPS    = 33
	NALPPS    = 34
	NALAUD    = 35
	NALSEI    = 39 // prefix SEI
)

// NALType is the nal_unit_type of a NAL unit (bits 1-6 of its first byte),
// -1 for a unit shorter than its two-byte header.
func NALType(nal []byte) int {
	if len(nal) < 2 {
		return -1
	}
	return int(nal[0]>>1) & 0x3f
}

// IsVCL says whether a NAL unit type is a slice segment of a picture.
func IsVCL(t int) bool { return t >= 0 && t < 32 }

// IsKey says whether a NAL unit type is a slice of an intra random access
// point (IRAP) picture: a key frame.
func IsKey(t int) bool { return t >= NALBLAW && t <= NALIRAP23 }

// startsAU says whether a NAL unit of type t that follows a picture's last
// slice opens the next access unit (7.4.2.4.4).
func startsAU(t int) bool {
	return (t >= NALVPS && t <= NALAUD) || t == NALSEI || (t >= 41 && t <= 44) || (t >= 48 && t <= 55)
}

// AccessUnits splits an Annex-B byte stream into access units (7.4.2.4.4)
// and calls fn with each one's NAL units, as h264.AccessUnits does for
// H.264; the slice is valid only during the call. An access unit ends
// before a parameter set, delimiter or prefix SEI that follows a slice,
// and before a slice that starts a picture and follows a slice. It stops
// early when fn returns false.
func AccessUnits(data []byte, fn func(au [][]byte) bool) {
	var au [][]byte
	hasVCL, stop := false, false
	h264.SplitAnnexB(data, func(n []byte) bool {
		t := NALType(n)
		newAU := false
		switch {
		case IsVCL(t):
			// first_slice_segment_in_pic_flag: the first bit after the header.
			newAU = hasVCL && len(n) > 2 && n[2]&0x80 != 0
		case startsAU(t):
			newAU = hasVCL
		}
		if newAU {
			if !fn(au) {
				stop = true
				return false
			}
			au, hasVCL = au[:0], false
		}
		au = append(au, n)
		hasVCL = hasVCL || IsVCL(t)
		return true
	})
	if !stop && len(au) > 0 {
		fn(au)
	}
}
