package netup

import "testing"

func TestParseOverride(t *testing.T) {
	base := Config{Interface: "eth0", Address: "10.0.2.15/24", Gateway: "10.0.2.2"}
	for _, tt := range []struct {
		in      string
		want    Config
		wantErr bool
	}{
		{"", base, false},
		{"dhcp", Config{Interface: "eth0", DHCP: true}, false},
		{"192.168.1.9/24,192.168.1.1", Config{Interface: "eth0", Address: "192.168.1.9/24", Gateway: "192.168.1.1"}, false},
		{"192.168.1.9", base, true},
	} {
		got, err := base.ParseOverride(tt.in)
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("ParseOverride(%q) = %+v, %v; want %+v (err %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
