package camif

import (
	"net/netip"
	"testing"
)

func TestCameraNetworkPool(t *testing.T) {
	for _, tt := range []struct {
		prefix, start string
	}{
		{"10.77.0.0/24", "10.77.0.100"},
		{"10.77.0.1/24", "10.77.0.100"},
		{"10.77.0.0/16", "10.77.0.100"},
		{"192.168.5.128/25", "192.168.5.130"},
	} {
		start, size := Pool(netip.MustParsePrefix(tt.prefix))
		if start.String() != tt.start || size != 64 {
			t.Errorf("Pool(%s) = %v+%d, want %s+64", tt.prefix, start, size, tt.start)
		}
	}
}
