package boxname

import (
	"net"
	"testing"
)

func TestFromMAC(t *testing.T) {
	for _, tt := range []struct {
		mac     string
		want    string
		wantErr bool
	}{
		{"52:54:00:12:34:56", "matthan-3456", false},
		{"dc:a6:32:AB:CD:EF", "matthan-cdef", false},
		{"00:00:00:00:00:00", "matthan-0000", false},
		{"", "", true},
	} {
		mac, _ := net.ParseMAC(tt.mac)
		got, err := FromMAC(mac)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("FromMAC(%q) = %q, %v; want %q (err %v)", tt.mac, got, err, tt.want, tt.wantErr)
		}
		if err == nil && !Valid(got) {
			t.Errorf("FromMAC(%q) = %q is not Valid", tt.mac, got)
		}
	}
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"matthan-3456": true, "matthan-abcd": true, "matthan-ABCD": false,
		"matthan-345": false, "matthan-34567": false, "matthan-zzzz": false, "other-3456": false, "": false,
	} {
		if got := Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestForInterfaceLoopbackHasNoMAC(t *testing.T) {
	if _, err := ForInterface("lo"); err == nil {
		t.Error("loopback (no MAC) gave a name")
	}
	if _, err := ForInterface("no-such-if0"); err == nil {
		t.Error("a missing interface gave a name")
	}
}

func TestAddresses(t *testing.T) {
	got := Addresses("lo")
	if len(got) == 0 || got[0].String() != "127.0.0.1/8" {
		t.Errorf("Addresses(lo) = %v, want 127.0.0.1/8 first", got)
	}
	if got := Addresses("no-such-if0"); got != nil {
		t.Errorf("Addresses of a missing interface = %v", got)
	}
}
