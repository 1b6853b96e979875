package netup

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
)

// dhcp asks for a DHCPv4 lease on link and applies it (address, route,
// resolv.conf), using u-root's dhclient.
func dhcp(ctx context.Context, link netlink.Link) (netip.Prefix, error) {
	cfg := dhclient.Config{Timeout: 5 * time.Second, Retries: 3}
	results := dhclient.SendRequests(ctx, []netlink.Link{link}, true, false, cfg, 30*time.Second)
	for r := range results {
		if r.Err != nil {
			return netip.Prefix{}, fmt.Errorf("dhcp on %s: %w", link.Attrs().Name, r.Err)
		}
		if err := r.Lease.Configure(); err != nil {
			return netip.Prefix{}, fmt.Errorf("dhcp on %s: apply lease: %w", link.Attrs().Name, err)
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil || len(addrs) == 0 {
			return netip.Prefix{}, fmt.Errorf("dhcp on %s: no address after lease", link.Attrs().Name)
		}
		a, _ := netip.AddrFromSlice(addrs[0].IP.To4())
		ones, _ := addrs[0].Mask.Size()
		return netip.PrefixFrom(a, ones), nil
	}
	return netip.Prefix{}, fmt.Errorf("dhcp on %s: no answer", link.Attrs().Name)
}
