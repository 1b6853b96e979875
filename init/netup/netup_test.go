package netup

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

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
		{"dhcp", Config{Interface: "eth0", DHCP: true}, false},
	} {
		got, err := base.ParseOverride(tt.in)
		if (err != nil) != tt.wantErr || (err == nil && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ParseOverride(%q) = %+v, %v; want %+v (err %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestUpStaticInNamespace applies a static uplink (address, default
// route, name servers) in a network namespace of its own, on a veth
// link, and reads the result back over netlink.
func TestUpStaticInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "netup's namespace test needs root (a network namespace)")
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	old := ResolvConf
	ResolvConf = resolv
	defer func() { ResolvConf = old }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Not unlocked: the thread ends with the goroutine, and its
		// namespace with it.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new namespace: %v", err)
			return
		}
		defer ns.Close()
		la := netlink.NewLinkAttrs()
		la.Name = "up0"
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "peer0"}); err != nil {
			t.Errorf("veth link: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cfg := Config{Interface: "up0", Address: "192.168.50.7/24", Gateway: "192.168.50.1", DNS: []string{"192.168.50.1", "8.8.8.8"}}
		p, err := Up(ctx, cfg)
		if err != nil || p.String() != "192.168.50.7/24" {
			t.Errorf("Up = %v, %v", p, err)
			return
		}
		link, _ := netlink.LinkByName("up0")
		addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
		if len(addrs) != 1 || addrs[0].IPNet.String() != "192.168.50.7/24" {
			t.Errorf("addresses on up0: %v", addrs)
		}
		routes, _ := netlink.RouteList(link, netlink.FAMILY_V4)
		var gw string
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				gw = r.Gw.String()
			}
		}
		if gw != "192.168.50.1" {
			t.Errorf("default route via %q, want 192.168.50.1 (routes %v)", gw, routes)
		}
		if b, _ := os.ReadFile(resolv); string(b) != "nameserver 192.168.50.1\nnameserver 8.8.8.8\n" {
			t.Errorf("resolv.conf = %q", b)
		}
		// A gateway outside the address's network fails with a clear error.
		bad := Config{Interface: "up0", Address: "192.168.50.7/24", Gateway: "10.9.9.9"}
		if _, err := Up(ctx, bad); err == nil || !strings.Contains(err.Error(), "default route via 10.9.9.9") {
			t.Errorf("unreachable gateway: %v", err)
		}
	}()
	<-done
}
