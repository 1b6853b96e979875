package pid1

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/firmware/netconf"
	"github.com/matthan/matthan/init/netup"
)

func TestUplinkConfig(t *testing.T) {
	qemu := &board.Board{Network: board.Network{Uplink: "eth0", Address: "10.0.2.15/24", Gateway: "10.0.2.2"}}
	rpi := &board.Board{Network: board.Network{Uplink: "eth0", DHCP: true}}
	file := netconf.Resolved{Source: netconf.DataPartition, Config: netconf.Config{
		Address: netip.MustParsePrefix("192.168.1.50/24"), Gateway: netip.MustParseAddr("192.168.1.1"),
		DNS: []netip.Addr{netip.MustParseAddr("192.168.1.1")}}}
	moved := file
	moved.Source, moved.Moved = netconf.BootPartition, true
	dhcpFile := netconf.Resolved{Source: netconf.DataPartition, Config: netconf.Config{DHCP: true}}
	static := netup.Config{Interface: "eth0", Address: "192.168.1.50/24", Gateway: "192.168.1.1", DNS: []string{"192.168.1.1"}}
	for _, tt := range []struct {
		name    string
		b       *board.Board
		saved   netconf.Resolved
		cmdline string
		want    netup.Config
		from    string
		wantErr bool
	}{
		{"no board", nil, netconf.Resolved{}, "", netup.Config{Interface: "eth0", DHCP: true}, "default", false},
		{"board static", qemu, netconf.Resolved{}, "", netup.Config{Interface: "eth0", Address: "10.0.2.15/24", Gateway: "10.0.2.2"}, "board", false},
		{"board dhcp", rpi, netconf.Resolved{}, "", netup.Config{Interface: "eth0", DHCP: true}, "board", false},
		{"file over board dhcp", rpi, file, "", static, "matthan-network.txt on the data partition", false},
		{"boot file, moved", rpi, moved, "", static, "matthan-network.txt on the boot partition, moved to the data partition", false},
		{"file says dhcp over board static", qemu, dhcpFile, "", netup.Config{Interface: "eth0", DHCP: true}, "matthan-network.txt on the data partition", false},
		{"matthan.ip over file", rpi, file, "10.0.2.15/24,10.0.2.2", netup.Config{Interface: "eth0", Address: "10.0.2.15/24", Gateway: "10.0.2.2"}, "matthan.ip", false},
		{"matthan.ip=dhcp over file", qemu, file, "dhcp", netup.Config{Interface: "eth0", DHCP: true}, "matthan.ip", false},
		{"bad matthan.ip", qemu, netconf.Resolved{}, "10.0.2.15", netup.Config{}, "", true},
	} {
		got, from, err := uplinkConfig(tt.b, tt.saved, tt.cmdline)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: no error", tt.name)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) || from != tt.from {
			t.Errorf("%s: uplinkConfig = %+v, %q, %v; want %+v, %q", tt.name, got, from, err, tt.want, tt.from)
		}
	}
}

func TestReadyLineName(t *testing.T) {
	for _, tt := range []struct{ uplink, want string }{
		{"", ""},
		{"lo", ""}, // no MAC
		{"no-such-if0", ""},
	} {
		in := &Init{uplink: tt.uplink}
		if got := in.byName(); got != tt.want {
			t.Errorf("byName(%q) = %q, want %q", tt.uplink, got, tt.want)
		}
	}
}
