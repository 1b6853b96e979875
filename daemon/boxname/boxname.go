// Package boxname gives the box its network name, matthan-XXXX, where
// XXXX are the last two bytes of the uplink's MAC address in hex, and its
// addresses on the uplink. The name is what the box announces over mDNS
// (matthan-XXXX.local), what its HTTPS certificate covers and what the
// self-test and the system page print.
//
// It is derived, never stored: the Raspberry Pi's MAC is burned into the
// chip, so the name survives re-flashing the card and a technician can
// write it on the box's label once. It has no dependencies beyond the
// standard library, so init's self-test links it cheaply.
package boxname

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Prefix starts every box name.
const Prefix = "matthan-"

// FromMAC is the box name for a MAC address: matthan- and the hex of its
// last two bytes, lower case ("52:54:00:12:34:56" → "matthan-3456").
func FromMAC(mac net.HardwareAddr) (string, error) {
	if len(mac) < 2 {
		return "", fmt.Errorf("box name: MAC address %q too short", mac)
	}
	return Prefix + hex.EncodeToString(mac[len(mac)-2:]), nil
}

// ForInterface is the box name from the named interface's MAC address.
func ForInterface(name string) (string, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return "", fmt.Errorf("box name from %s: %w", name, err)
	}
	n, err := FromMAC(ifi.HardwareAddr)
	if err != nil {
		return "", fmt.Errorf("box name from %s: %w", name, err)
	}
	return n, nil
}

// Host is the mDNS host name of a box name: "matthan-3456.local".
func Host(name string) string { return name + ".local" }

// Valid says whether s is a box name: the prefix and four hex digits.
func Valid(s string) bool {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok || len(rest) != 4 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil && strings.ToLower(rest) == rest
}

// Addresses are the named interface's IPv4 addresses with their prefix
// lengths, sorted, link-local ones left out (none when the interface is
// missing or has none).
func Addresses(name string) []netip.Prefix {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(n.IP.To4())
		ones, _ := n.Mask.Size()
		if !ip.IsLinkLocalUnicast() {
			out = append(out, netip.PrefixFrom(ip, ones))
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}
