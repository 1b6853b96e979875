// Package netup brings up the box's uplink: loopback, then the uplink
// interface with a static address and default route (what the board or
// the kernel command line says), or DHCP.
package netup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// Config is the uplink's configuration.
type Config struct {
	Interface string
	DHCP      bool
	Address   string // CIDR
	Gateway   string // may be empty
	// DNS are the name servers of a static uplink, written to
	// ResolvConf (DHCP's lease writes its own).
	DNS []string
}

// ResolvConf is where a static uplink's name servers go.
var ResolvConf = "/etc/resolv.conf"

// ParseOverride applies a matthan.ip= value ("dhcp" or
// "ADDR/LEN[,GATEWAY]") over c.
func (c Config) ParseOverride(v string) (Config, error) {
	if v == "" {
		return c, nil
	}
	if v == "dhcp" {
		c.DHCP, c.Address, c.Gateway, c.DNS = true, "", "", nil
		return c, nil
	}
	addr, gw, _ := strings.Cut(v, ",")
	if _, err := netip.ParsePrefix(addr); err != nil {
		return c, fmt.Errorf("address %q: %w", addr, err)
	}
	c.DHCP, c.Address, c.Gateway, c.DNS = false, addr, gw, nil
	return c, nil
}

// Up configures loopback and the uplink and returns the uplink's address.
// It waits up to the context's deadline for the interface to appear
// (its driver module may still be probing).
func Up(ctx context.Context, c Config) (netip.Prefix, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return netip.Prefix{}, fmt.Errorf("loopback up: %w", err)
	}
	link, err := waitLink(ctx, c.Interface)
	if err != nil {
		return netip.Prefix{}, err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return netip.Prefix{}, fmt.Errorf("%s up: %w", c.Interface, err)
	}
	if c.DHCP {
		return dhcp(ctx, link)
	}
	return static(link, c)
}

func waitLink(ctx context.Context, name string) (netlink.Link, error) {
	for {
		link, err := netlink.LinkByName(name)
		if err == nil {
			return link, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("interface %s did not appear: %w", name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func static(link netlink.Link, c Config) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(c.Address)
	if err != nil {
		return p, fmt.Errorf("address %q: %w", c.Address, err)
	}
	addr, err := netlink.ParseAddr(c.Address)
	if err != nil {
		return p, fmt.Errorf("address %q: %w", c.Address, err)
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return p, fmt.Errorf("set %s on %s: %w", c.Address, link.Attrs().Name, err)
	}
	if c.Gateway != "" {
		gw := net.ParseIP(c.Gateway)
		if gw == nil {
			return p, fmt.Errorf("gateway %q: not an address", c.Gateway)
		}
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}
		if err := netlink.RouteReplace(r); err != nil {
			return p, fmt.Errorf("default route via %s: %w", c.Gateway, err)
		}
	}
	if len(c.DNS) > 0 {
		var b strings.Builder
		for _, d := range c.DNS {
			if net.ParseIP(d) == nil {
				return p, fmt.Errorf("dns %q: not an address", d)
			}
			fmt.Fprintf(&b, "nameserver %s\n", d)
		}
		if err := os.WriteFile(ResolvConf, []byte(b.String()), 0o644); err != nil {
			return p, fmt.Errorf("name servers: %w", err)
		}
	}
	return p, nil
}

// ErrNoDHCP says this build has no DHCP client.
var ErrNoDHCP = errors.New("DHCP client not available")
