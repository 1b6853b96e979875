// Package netlimit bounds what network clients can hold: a net.Listener
// wrapper that caps the connections open at once, in total and per source
// address. A connection accepted beyond a cap is closed at once, before any
// byte is read from it (before a TLS handshake, the costly part), so a flood
// of connections costs the box a descriptor for a few microseconds each.
//
// It also raises the process's descriptor limit and derives the cap from
// it, so that web clients can never take the descriptors the recorder needs
// (see daemon/storage/DESIGN.md, "Resources reserved for recording").
package netlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the caps of a Listener. Zero means no cap.
type Limits struct {
	// Total is the most connections open at once.
	Total int
	// PerAddr is the most connections open at once from one source
	// address (the port ignored; IPv6 addresses grouped by /64, so one
	// host cannot dodge the cap by rotating its privacy addresses).
	PerAddr int
	// RatePerAddr is the most new connections one source address may
	// open per second (a flood of short connections, each a TLS
	// handshake, costs CPU even under the caps above).
	RatePerAddr int
}

// Group counts the connections of one or more listeners against one set
// of Limits (the box's HTTPS and plain-HTTP listeners share the
// descriptors).
type Group struct {
	lim Limits

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
	// New connections per address in the current one-second window.
	window    int64
	newByAddr map[netip.Addr]int

	rejected atomic.Int64
}

// NewGroup makes a Group with lim.
func NewGroup(lim Limits) *Group {
	return &Group{lim: lim, byAddr: map[netip.Addr]int{}, newByAddr: map[netip.Addr]int{}}
}

// Listener is a net.Listener whose Accept returns only connections within
// its Group's Limits; it closes the others itself and keeps accepting.
type Listener struct {
	net.Listener
	*Group
}

// Wrap limits inner within g.
func (g *Group) Wrap(inner net.Listener) *Listener {
	return &Listener{Listener: inner, Group: g}
}

// Accept waits for the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(c.RemoteAddr())
		if !l.take(key) {
			l.rejected.Add(1)
			if tc, ok := c.(*net.TCPConn); ok {
				// Reset rather than FIN: no TIME_WAIT kept on the box.
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			continue
		}
		return &conn{Conn: c, g: l.Group, key: key}, nil
	}
}

func (l *Group) take(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim.Total > 0 && l.total >= l.lim.Total {
		return false
	}
	if l.lim.PerAddr > 0 && l.byAddr[key] >= l.lim.PerAddr {
		return false
	}
	if l.lim.RatePerAddr > 0 {
		if w := time.Now().Unix(); w != l.window {
			l.window = w
			clear(l.newByAddr)
		}
		if l.newByAddr[key] >= l.lim.RatePerAddr {
			return false
		}
		l.newByAddr[key]++
	}
	l.total++
	l.byAddr[key]++
	return true
}

func (l *Group) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byAddr[key] - 1; n > 0 {
		l.byAddr[key] = n
	} else {
		delete(l.byAddr, key)
	}
}

// Stats are a Listener's counters.
type Stats struct {
	Open     int   // connections open now
	Addrs    int   // distinct source addresses among them
	Rejected int64 // connections closed at accept for a cap, ever
}

// Stats reports the counters.
func (l *Group) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: l.total, Addrs: len(l.byAddr), Rejected: l.rejected.Load()}
}

// Limits reports the caps.
func (l *Group) Limits() Limits { return l.lim }

// addrKey is the source address a cap counts: the IP (IPv4-mapped IPv6
// unmapped), an IPv6 address cut to its /64.
func addrKey(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		ap, _ = netip.ParseAddrPort(a.String())
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip
}

// conn gives its slot back once, on the first Close.
type conn struct {
	net.Conn
	g      *Group
	key    netip.Addr
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.g.release(c.key)
	}
	return err
}

// ErrNoRoom says the descriptor limit leaves nothing for network clients
// after the reserve.
var ErrNoRoom = errors.New("netlimit: descriptor limit leaves no room for connections after the reserve")
