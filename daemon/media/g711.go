package media

// G.711 expands to 16-bit linear PCM by table lookup (ITU-T G.711; the
// tables are computed once from the standard's segment formulas). MP4 and
// browsers' MSE have no G.711, so the recorder stores it as 16-bit LPCM.

var alawTable, ulawTable [256]int16

func init() {
	for i := range 256 {
		alawTable[i] = alaw(byte(i))
		ulawTable[i] = ulaw(byte(i))
	}
}

func alaw(a byte) int16 {
	a ^= 0x55
	t := int16(a&0x0f) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return t
	}
	return -t
}

func ulaw(u byte) int16 {
	u = ^u
	t := (int16(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return 0x84 - t
	}
	return t - 0x84
}

// AppendLPCM appends G.711 samples (PCMA or PCMU) to dst as 16-bit
// little-endian linear PCM, two bytes per input byte. Other codecs append
// nothing.
func AppendLPCM(dst, g711 []byte, codec AudioCodec) []byte {
	t := &alawTable
	switch codec {
	case PCMA:
	case PCMU:
		t = &ulawTable
	default:
		return dst
	}
	for _, b := range g711 {
		v := uint16(t[b])
		dst = append(dst, byte(v), byte(v>>8))
	}
	return dst
}
