// Package camnet decides which network addresses a camera URL may reach.
// The box talks to cameras on its camera network only: the private ranges
// (RFC 1918, IPv4 link-local where cameras without DHCP fall back, IPv6
// unique-local and link-local) and any networks the box is configured
// with. Loopback (the box itself) is refused unless explicitly allowed, for
// the host-mode development daemon and tests over simulated cameras.
//
// Host names are resolved and every address checked; Dial connects to the
// checked address itself, so a DNS answer that changes between the check
// and the connection (DNS rebinding) gains nothing. Numeric host forms other
// than dotted quads (0x7f000001, 2130706433, 127.1, 0177.0.0.1) are IPv4
// addresses to many parsers: they are refused, never sent to DNS.
//
// Errors are generic: they never quote what the far end sent.
package camnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ErrNotAllowed is every refusal: the address is outside the camera network.
var ErrNotAllowed = errors.New("camera address not allowed: cameras must be on the camera network (a private address)")

// ErrNumericHost refuses a host written as a number other than a dotted quad.
var ErrNumericHost = fmt.Errorf("%w: write an IPv4 address as four decimal numbers (a.b.c.d)", ErrNotAllowed)

// Private are the ranges always allowed.
var Private = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("169.254.0.0/16"), // IPv4 link-local: cameras without DHCP
	netip.MustParsePrefix("fc00::/7"),       // IPv6 unique local
	netip.MustParsePrefix("fe80::/10"),      // IPv6 link-local
}

// Policy is which addresses cameras may have.
type Policy struct {
	// AllowLoopback allows 127.0.0.0/8 and ::1 (host-mode development
	// daemon and tests only: on the box the loopback is the box).
	AllowLoopback bool
	// Networks are allowed besides Private (the camera network, when it
	// is not a private range).
	Networks []netip.Prefix
	// Resolver looks host names up (default net.DefaultResolver).
	Resolver *net.Resolver
}

// CheckAddr says whether a is a camera address.
func (p Policy) CheckAddr(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return ErrNotAllowed
	}
	if a.IsLoopback() {
		if p.AllowLoopback {
			return nil
		}
		return ErrNotAllowed
	}
	if a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() {
		return ErrNotAllowed
	}
	for _, pf := range Private {
		if pf.Contains(a) {
			return nil
		}
	}
	for _, pf := range p.Networks {
		if pf.Contains(a) {
			return nil
		}
	}
	return ErrNotAllowed
}

// ParseHost reads a URL's host (no port, IPv6 without brackets): an IP
// address (ok), a name to resolve (!isIP), or a numeric form that is not
// a plain address (ErrNumericHost).
func ParseHost(host string) (addr netip.Addr, isIP bool, err error) {
	if host == "" {
		return netip.Addr{}, false, fmt.Errorf("%w: no host", ErrNotAllowed)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true, nil
	}
	h := strings.TrimSuffix(host, ".")
	labels := strings.Split(h, ".")
	if looksNumeric(labels[len(labels)-1]) {
		// WHATWG URL and inet_aton read a name ending in a number as an
		// IPv4 address: so do we, and refuse it.
		return netip.Addr{}, false, ErrNumericHost
	}
	if strings.ContainsAny(h, "[]%/\\@ ") || len(h) > 253 {
		return netip.Addr{}, false, fmt.Errorf("%w: bad host name", ErrNotAllowed)
	}
	return netip.Addr{}, false, nil
}

// looksNumeric: decimal digits, or 0x/0X and hex digits (or none).
func looksNumeric(s string) bool {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
		return true
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Resolve returns the addresses host stands for, every one allowed, or
// ErrNotAllowed if any is not (a name that also points at a forbidden
// address is refused whole).
func (p Policy) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	a, isIP, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	if isIP {
		if err := p.CheckAddr(a); err != nil {
			return nil, err
		}
		return []netip.Addr{a}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("camera host name not found: %w", errors.Join(err, ErrNotAllowed))
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// CheckURL checks a camera URL's host (rtsp or rtsps).
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") {
		return fmt.Errorf("%w: not an rtsp:// URL", ErrNotAllowed)
	}
	_, err = p.Resolve(ctx, u.Hostname())
	return err
}

// Dial connects to address (host:port) like net.Dialer.DialContext, but
// only to an allowed address, the one it checked.
func (p Policy) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return p.DialWith(ctx, &net.Dialer{Timeout: 5 * time.Second}, network, address)
}

// DialWith is Dial through d.
func (p Policy) DialWith(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("camera address %w", ErrNotAllowed)
	}
	addrs, err := p.Resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// CheckHost checks a host without resolving it: an address must be
// allowed, a numeric form is refused, a name passes (Dial checks what it
// resolves to).
func (p Policy) CheckHost(host string) error {
	a, isIP, err := ParseHost(host)
	if err != nil || !isIP {
		return err
	}
	return p.CheckAddr(a)
}
