package h264

// AccessUnits splits an Annex-B byte stream into access units (7.4.1.2.3)
// and calls fn with each one's NAL units; the slices are valid only during
// the call. An access unit ends before an access unit delimiter, SPS, PPS
// or SEI that follows a slice, and before a slice with first_mb_in_slice 0
// that follows a slice. It stops early when fn returns false.
func AccessUnits(data []byte, fn func(au [][]byte) bool) {
	var au [][]byte
	hasSlice := false
	stop := false
	SplitAnnexB(data, func(nal []byte) bool {
		t := NALType(nal)
		newAU := false
		switch t {
		case NALAUD, NALSPS, NALPPS, NALSEI, 14, 15, 16, 17, 18:
			newAU = hasSlice
		case NALSlice, NALIDRSlice:
			// first_mb_in_slice is ue(v): its code is "1" for 0.
			newAU = hasSlice && len(nal) > 1 && nal[1]&0x80 != 0
		}
		if newAU {
			if !fn(au) {
				stop = true
				return false
			}
			au = au[:0]
			hasSlice = false
		}
		if t == NALSlice || t == NALIDRSlice || (t >= 2 && t <= 4) {
			hasSlice = true
		}
		au = append(au, nal)
		return true
	})
	if !stop && len(au) > 0 {
		fn(au)
	}
}
