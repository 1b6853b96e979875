package timesync

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
)

// parseRoute finds the default route's gateway in /proc/net/route's text
// (fields: Iface Destination Gateway Flags ..., addresses in hex, host
// byte order: little-endian on every board we run on).
func parseRoute(text string) (string, bool) {
	for _, line := range strings.Split(text, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != "00000000" {
			continue
		}
		b, err := hex.DecodeString(f[2])
		if err != nil || len(b) != 4 {
			continue
		}
		v := binary.LittleEndian.Uint32(b)
		if v == 0 {
			continue
		}
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], v)
		return netip.AddrFrom4(a).String(), true
	}
	return "", false
}
