package camsim

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
)

// Lease is what a simulated camera got from the camera network's DHCP
// server.
type Lease struct {
	Addr   netip.Prefix // its address and network
	Server netip.Addr   // the server that gave it
	NTP    []net.IP     // the time servers it was told
}

// DHCPLease does what a camera does at power-on: it brings iface up,
// asks for an address by DHCP (DISCOVER, OFFER, REQUEST, ACK, on raw
// sockets as a client without an address must), and sets it on iface.
// It needs CAP_NET_ADMIN and CAP_NET_RAW (root, in the camera's network
// namespace in tests).
func DHCPLease(ctx context.Context, iface, hostname string) (Lease, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return Lease{}, fmt.Errorf("camsim dhcp: %s: %w", iface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return Lease{}, fmt.Errorf("camsim dhcp: %s up: %w", iface, err)
	}
	c, err := nclient4.New(iface)
	if err != nil {
		return Lease{}, fmt.Errorf("camsim dhcp: client on %s: %w", iface, err)
	}
	defer c.Close()
	var mods []dhcpv4.Modifier
	if hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(hostname)))
	}
	mods = append(mods, dhcpv4.WithRequestedOptions(dhcpv4.OptionNTPServers))
	l, err := c.Request(ctx, mods...)
	if err != nil {
		return Lease{}, fmt.Errorf("camsim dhcp: lease on %s: %w", iface, err)
	}
	ack := l.ACK
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok {
		return Lease{}, fmt.Errorf("camsim dhcp: ACK without an address")
	}
	ones, _ := ack.SubnetMask().Size()
	if ones == 0 {
		ones = 24
	}
	out := Lease{Addr: netip.PrefixFrom(ip, ones), NTP: ack.NTPServers()}
	out.Server, _ = netip.AddrFromSlice(ack.ServerIdentifier().To4())
	a, err := netlink.ParseAddr(out.Addr.String())
	if err != nil {
		return out, fmt.Errorf("camsim dhcp: %w", err)
	}
	if err := netlink.AddrReplace(link, a); err != nil {
		return out, fmt.Errorf("camsim dhcp: set %v on %s: %w", out.Addr, iface, err)
	}
	return out, nil
}
