package netconf

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func static(addr, gw string, dns ...string) Config {
	c := Config{Address: netip.MustParsePrefix(addr)}
	if gw != "" {
		c.Gateway = netip.MustParseAddr(gw)
	}
	for _, d := range dns {
		c.DNS = append(c.DNS, netip.MustParseAddr(d))
	}
	return c
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     Config
		err      string // part of the error; "" for none
	}{
		{"full", "address=192.168.1.50/24\ngateway=192.168.1.1\ndns=192.168.1.1, 8.8.8.8\n", static("192.168.1.50/24", "192.168.1.1", "192.168.1.1", "8.8.8.8"), ""},
		{"notepad: BOM, CRLF, spaces, comments, case", "\xef\xbb\xbf# Mắt Thần\r\n; note\r\n  Address = 10.0.0.9/8 \r\n\r\nGATEWAY=10.0.0.1\r\n", static("10.0.0.9/8", "10.0.0.1"), ""},
		{"dns repeated", "address=192.168.1.50/24\ndns=1.1.1.1\ndns=8.8.8.8 9.9.9.9", static("192.168.1.50/24", "", "1.1.1.1", "8.8.8.8", "9.9.9.9"), ""},
		{"no gateway (closed network)", "address=172.16.5.2/16", static("172.16.5.2/16", ""), ""},
		{"/32 host route", "address=192.168.1.50/32", static("192.168.1.50/32", ""), ""},
		{"dhcp", "# back to DHCP\naddress=DHCP\n", Config{DHCP: true}, ""},
		{"empty", "", Config{}, "no address="},
		{"only comments", "# address=1.2.3.4/24\n", Config{}, "no address="},
		{"no prefix", "address=192.168.1.50", Config{}, "line 1: address"},
		{"not a key=value", "address=192.168.1.50/24\nhello", Config{}, "line 2"},
		{"unknown key", "address=192.168.1.50/24\nnetmask=255.255.255.0", Config{}, `unknown setting "netmask"`},
		{"address twice", "address=192.168.1.50/24\naddress=192.168.1.51/24", Config{}, "address given twice"},
		{"network address", "address=192.168.1.0/24", Config{}, "network's own address"},
		{"broadcast address", "address=192.168.1.255/24", Config{}, "broadcast"},
		{"gateway outside", "address=192.168.1.50/24\ngateway=192.168.2.1", Config{}, "outside 192.168.1.0/24"},
		{"gateway is self", "address=192.168.1.50/24\ngateway=192.168.1.50", Config{}, "own address"},
		{"bad gateway", "address=192.168.1.50/24\ngateway=router", Config{}, "line 2: gateway"},
		{"ipv6", "address=fd00::5/64", Config{}, "IPv4 only"},
		{"loopback", "address=127.0.0.5/8", Config{}, "not a usable host"},
		{"multicast", "address=224.0.0.5/24", Config{}, "not a usable host"},
		{"tiny prefix", "address=10.0.0.5/4", Config{}, "prefix /4"},
		{"four dns", "address=10.0.0.5/8\ndns=1.1.1.1,1.0.0.1,8.8.8.8,8.8.4.4", Config{}, "at most 3"},
		{"bad dns", "address=10.0.0.5/8\ndns=0.0.0.0", Config{}, "dns 0.0.0.0"},
		{"dhcp with gateway", "address=dhcp\ngateway=10.0.0.1", Config{}, "dhcp takes no"},
		{"too big", "address=10.0.0.5/8\n" + strings.Repeat("#", MaxSize), Config{}, "at most 4096"},
	} {
		got, err := Parse([]byte(tt.in))
		if tt.err == "" {
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: Parse = %+v, %v; want %+v", tt.name, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: Parse error %v, want one containing %q", tt.name, err, tt.err)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, c := range []Config{
		{DHCP: true},
		static("192.168.1.50/24", "192.168.1.1", "192.168.1.1", "8.8.8.8"),
		static("10.1.2.3/8", ""),
	} {
		got, err := Parse(c.Format())
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("Parse(Format(%v)) = %+v, %v\n%s", c, got, err, c.Format())
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("address=192.168.1.50/24\ngateway=192.168.1.1\ndns=192.168.1.1, 8.8.8.8\n"))
	f.Add([]byte("\xef\xbb\xbf; x\r\naddress=dhcp\r\n"))
	f.Add([]byte("address=192.168.1.255/24\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		// Anything accepted is valid and survives a round trip.
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted %q but invalid: %v", b, err)
		}
		again, err := Parse(c.Format())
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip of %q: %+v, %v (was %+v)", b, again, err, c)
		}
	})
}

// TestResolve is the precedence: a new boot-partition file wins and
// moves to the data partition; afterwards the data partition's copy.
func TestResolve(t *testing.T) {
	const (
		bootA = "address=192.168.1.50/24\ngateway=192.168.1.1\n"
		dataB = "address=10.0.0.9/8\n"
		bad   = "address=192.168.1.50\n"
	)
	a, b := static("192.168.1.50/24", "192.168.1.1"), static("10.0.0.9/8", "")
	for _, tt := range []struct {
		name             string
		boot, data       string // "" = no file
		noBoot           bool   // boot partition not mounted
		persistent       bool
		want             Config
		source           Source
		moved            bool
		problems         int
		bootLeft         bool   // matthan-network.txt still on the boot partition
		dataAfter        string // data file's setting afterwards ("" none)
		appliedAfterBoot bool
	}{
		{name: "nothing", persistent: true, source: None},
		{name: "boot partition not mounted", noBoot: true, data: dataB, persistent: true, want: b, source: DataPartition, dataAfter: "10.0.0.9/8"},
		{name: "first boot with a boot file", boot: bootA, persistent: true, want: a, source: BootPartition, moved: true, dataAfter: a.String(), appliedAfterBoot: true},
		{name: "new boot file replaces the saved one", boot: bootA, data: dataB, persistent: true, want: a, source: BootPartition, moved: true, dataAfter: a.String(), appliedAfterBoot: true},
		{name: "later boots: data partition", data: dataB, persistent: true, want: b, source: DataPartition, dataAfter: b.String()},
		{name: "bad boot file: left in place, data applies", boot: bad, data: dataB, persistent: true, want: b, source: DataPartition, problems: 1, bootLeft: true, dataAfter: b.String()},
		{name: "bad data file: none", data: bad, persistent: true, source: None, problems: 1},
		{name: "data on RAM: boot file used, kept", boot: bootA, persistent: false, want: a, source: BootPartition, bootLeft: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bootDir, dataDir := t.TempDir(), t.TempDir()
			if tt.boot != "" {
				os.WriteFile(filepath.Join(bootDir, FileName), []byte(tt.boot), 0o644)
			}
			if tt.data != "" {
				os.WriteFile(filepath.Join(dataDir, FileName), []byte(tt.data), 0o644)
			}
			bd := bootDir
			if tt.noBoot {
				bd = ""
			}
			r := Resolve(bd, dataDir, tt.persistent)
			if !reflect.DeepEqual(r.Config, tt.want) || r.Source != tt.source || r.Moved != tt.moved || len(r.Problems) != tt.problems {
				t.Errorf("Resolve = %+v, want config %+v source %q moved %v, %d problem(s)", r, tt.want, tt.source, tt.moved, tt.problems)
			}
			_, err := os.Stat(filepath.Join(bootDir, FileName))
			if left := err == nil; left != tt.bootLeft {
				t.Errorf("boot file left = %v, want %v", left, tt.bootLeft)
			}
			if _, err := os.Stat(filepath.Join(bootDir, FileName+AppliedSuffix)); (err == nil) != tt.appliedAfterBoot {
				t.Errorf("applied file present = %v, want %v", err == nil, tt.appliedAfterBoot)
			}
			c, found, err := Load(filepath.Join(dataDir, FileName))
			got := ""
			if found && err == nil {
				got = c.String()
			}
			if got != tt.dataAfter && !(tt.dataAfter == "" && (err != nil || !found)) {
				t.Errorf("data file afterwards %q (%v), want %q", got, err, tt.dataAfter)
			}
			// A second boot with the same card: the moved setting stays.
			if tt.moved {
				again := Resolve(bd, dataDir, true)
				if again.Source != DataPartition || !reflect.DeepEqual(again.Config, tt.want) {
					t.Errorf("second boot: %+v", again)
				}
			}
		})
	}
}

func TestStoreSaveRefusesInvalid(t *testing.T) {
	s := Store{Path: filepath.Join(t.TempDir(), FileName)}
	if err := s.SaveNetwork(static("192.168.1.0/24", "")); err == nil {
		t.Error("saved a network address")
	}
	if _, found, _ := s.LoadNetwork(); found {
		t.Error("file written despite the error")
	}
	want := static("192.168.1.50/24", "192.168.1.1", "8.8.8.8")
	if err := s.SaveNetwork(want); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.LoadNetwork()
	if err != nil || !found || !reflect.DeepEqual(got, want) {
		t.Errorf("LoadNetwork = %+v, %v, %v", got, found, err)
	}
}
