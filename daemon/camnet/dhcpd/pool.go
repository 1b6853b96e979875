// Package dhcpd is the box's DHCP server on the camera network: the
// allocator (a pool of addresses for the cameras, static reservations by
// MAC, offers, bindings, expiry, release, decline), its crash-safe lease
// file, and the server that reads and answers DHCP messages on the camera
// interface only (SO_BINDTODEVICE). The wire format is
// github.com/insomniacslk/dhcp's dhcpv4; the allocator is ours.
//
// Bookkeeping is bounded by construction: every record is keyed by an
// address of the pool or of a reservation, so 200 cameras flapping on a
// pool of 64 leave at most 64 + reservations records, whatever their MACs.
//
// The server is authoritative for the camera network: a client asking for
// an address that is not its own gets a NAK. It also watches for a second
// DHCP server (a household router plugged into the wrong port) and, while
// one is seen, raises an event and stops sending NAKs instead of fighting
// it over the cameras.
package dhcpd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/positive"
)

// Defaults of Config.
const (
	DefaultPoolSize    = 64
	DefaultLeaseTime   = time.Hour
	DefaultOfferHold   = 30 * time.Second
	DefaultDeclineHold = 10 * time.Minute
)

// ErrPoolFull: every pool address is bound to a camera whose lease is
// still valid (or held after a decline); offers not taken up are given
// to the next camera instead.
var ErrPoolFull = errors.New("camera network address pool is full")

// Config is the camera network the allocator hands addresses out of.
type Config struct {
	// ServerIP is the box's address on the camera network.
	ServerIP netip.Addr
	// Prefix is the camera network (e.g. 10.77.0.0/24).
	Prefix netip.Prefix
	// PoolStart is the first address of the pool, PoolSize its length
	// (default 64).
	PoolStart netip.Addr
	PoolSize  int
	// LeaseTime is how long a binding lasts without renewal (default 1 h).
	LeaseTime time.Duration
	// OfferHold is how long an address stays kept for a client it was
	// offered to (default 30 s).
	OfferHold time.Duration
	// DeclineHold is how long an address a client declined (found in use)
	// stays out of the pool (default 10 min).
	DeclineHold time.Duration
	// Reservations fix addresses by MAC; they may lie in or out of the
	// pool (inside Prefix).
	Reservations map[string]netip.Addr
}

// Lease is one client's address.
type Lease struct {
	MAC      string     `json:"mac"`
	IP       netip.Addr `json:"ip"`
	Hostname string     `json:"hostname,omitempty"`
	// Bound is false for an address only offered.
	Bound bool `json:"-"`
	// Expiry is when the offer or binding ends (monotonic in memory).
	Expiry time.Time `json:"-"`
}

// entry is an address's state: a lease, or a decline hold (mac empty).
type entry struct {
	Lease
	declined bool
}

// Allocator hands out the camera network's addresses. It is safe for
// concurrent use.
type Allocator struct {
	cfg  Config
	pool []netip.Addr
	// reservedAddr: addresses reserved to a MAC (never given to another).
	reservedAddr map[netip.Addr]string
	now          func() time.Time

	mu    sync.Mutex
	byIP  map[netip.Addr]*entry
	byMAC map[string]netip.Addr
}

// NormalMAC writes a MAC as lowercase colon-separated hex, or "" if it is
// not a 6-byte Ethernet address.
func NormalMAC(s string) string {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return ""
	}
	return hw.String()
}

// NewAllocator checks cfg, fills in defaults and returns an empty
// allocator. now is the clock (nil: time.Now).
func NewAllocator(cfg Config, now func() time.Time) (*Allocator, error) {
	if now == nil {
		now = time.Now
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	cfg.LeaseTime = positive.Or(cfg.LeaseTime, DefaultLeaseTime)
	cfg.OfferHold = positive.Or(cfg.OfferHold, DefaultOfferHold)
	cfg.DeclineHold = positive.Or(cfg.DeclineHold, DefaultDeclineHold)
	p := cfg.Prefix.Masked()
	if !p.IsValid() || !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("camera network %v: want an IPv4 network of at least 4 addresses", cfg.Prefix)
	}
	cfg.Prefix = p
	usable := func(a netip.Addr) bool {
		return p.Contains(a) && a != p.Addr() && a != broadcastOf(p) && a != cfg.ServerIP
	}
	if !p.Contains(cfg.ServerIP) {
		return nil, fmt.Errorf("box address %v is not in the camera network %v", cfg.ServerIP, p)
	}
	if cfg.PoolSize < 1 || cfg.PoolSize > 1024 {
		return nil, fmt.Errorf("pool size %d: want 1..1024", cfg.PoolSize)
	}
	a := &Allocator{cfg: cfg, now: now, reservedAddr: map[netip.Addr]string{},
		byIP: map[netip.Addr]*entry{}, byMAC: map[string]netip.Addr{}}
	res := map[string]netip.Addr{}
	for mac, ip := range cfg.Reservations {
		m := NormalMAC(mac)
		if m == "" {
			return nil, fmt.Errorf("reservation %q: not a MAC address", mac)
		}
		if !usable(ip) {
			return nil, fmt.Errorf("reservation %s → %v: not a host address of %v (or the box's)", m, ip, p)
		}
		if other, ok := a.reservedAddr[ip]; ok {
			return nil, fmt.Errorf("reservation %v given to both %s and %s", ip, other, m)
		}
		a.reservedAddr[ip] = m
		res[m] = ip
	}
	a.cfg.Reservations = res
	ip := cfg.PoolStart
	for i := 0; i < cfg.PoolSize; i++ {
		if !usable(ip) {
			return nil, fmt.Errorf("pool %v+%d: %v is not a host address of %v (or is the box's)", cfg.PoolStart, cfg.PoolSize, ip, p)
		}
		if _, r := a.reservedAddr[ip]; !r {
			a.pool = append(a.pool, ip)
		}
		ip = ip.Next()
	}
	return a, nil
}

func broadcastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 1 << (7 - uint(i%8))
	}
	return netip.AddrFrom4(b)
}

// Config returns the allocator's configuration with defaults filled in.
func (a *Allocator) Config() Config { return a.cfg }

// inPool says whether ip is a pool address (not reserved).
func (a *Allocator) inPool(ip netip.Addr) bool {
	i := sort.Search(len(a.pool), func(i int) bool { return !a.pool[i].Less(ip) })
	return i < len(a.pool) && a.pool[i] == ip
}

// live says whether e still holds its address at t.
func live(e *entry, t time.Time) bool { return t.Before(e.Expiry) }

// drop forgets ip's entry.
func (a *Allocator) drop(ip netip.Addr) {
	if e, ok := a.byIP[ip]; ok {
		if e.MAC != "" && a.byMAC[e.MAC] == ip {
			delete(a.byMAC, e.MAC)
		}
		delete(a.byIP, ip)
	}
}

// pick chooses mac's address (the caller holds mu): its reservation, its
// current record, the address it asks for if free, a never-used pool
// address, then the record that expired longest ago. reclaimed is true
// when a binding another client had (expired) was taken.
func (a *Allocator) pick(mac string, requested netip.Addr, t time.Time) (ip netip.Addr, reclaimed bool, err error) {
	if r, ok := a.cfg.Reservations[mac]; ok {
		return r, false, nil
	}
	if ip, ok := a.byMAC[mac]; ok {
		return ip, false, nil
	}
	if requested.IsValid() && a.inPool(requested) {
		e, used := a.byIP[requested]
		if !used || (!e.declined && !live(e, t)) {
			return requested, used && e.Bound, nil
		}
	}
	// Free, else expired longest ago, else the oldest offer not taken up
	// (a flood of DISCOVERs must not starve a real camera: an offer is
	// cheap to lose, the client asks again).
	var oldest, oldestOffer *entry
	for _, ip := range a.pool {
		e, used := a.byIP[ip]
		if !used {
			return ip, false, nil
		}
		if !live(e, t) {
			if oldest == nil || e.Expiry.Before(oldest.Expiry) {
				oldest = e
			}
		} else if !e.Bound && !e.declined {
			if oldestOffer == nil || e.Expiry.Before(oldestOffer.Expiry) {
				oldestOffer = e
			}
		}
	}
	if oldest != nil {
		return oldest.IP, oldest.Bound, nil
	}
	if oldestOffer != nil {
		return oldestOffer.IP, false, nil
	}
	return netip.Addr{}, false, ErrPoolFull
}

// Offer chooses an address for mac (a DISCOVER) and holds it for the
// offer time. changed is true when a binding recorded in the lease file
// was reclaimed (the file must be written again).
func (a *Allocator) Offer(mac string, requested netip.Addr, hostname string) (ip netip.Addr, changed bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.now()
	ip, reclaimed, err := a.pick(mac, requested, t)
	if err != nil {
		return ip, false, err
	}
	if e, ok := a.byIP[ip]; ok && e.MAC == mac && e.Bound && live(e, t) {
		return ip, false, nil // offering its own binding again
	}
	a.drop(ip)
	if old, ok := a.byMAC[mac]; ok && old != ip {
		a.drop(old)
	}
	a.byIP[ip] = &entry{Lease: Lease{MAC: mac, IP: ip, Hostname: clean(hostname), Expiry: t.Add(a.cfg.OfferHold)}}
	a.byMAC[mac] = ip
	return ip, reclaimed, nil
}

// Decision is the answer to a REQUEST.
type Decision int

const (
	// Ignore: not for us (the client chose another server); no reply.
	Ignore Decision = iota
	// Ack: the client has the address.
	Ack
	// Nak: the client must not use the address it asked for.
	Nak
)

func (d Decision) String() string {
	return [...]string{"ignore", "ack", "nak"}[d]
}

// Request answers a REQUEST from mac for ip. selecting is true when the
// client names a server (it is answering an offer): ours is whether it
// named this box. changed is true when the lease file must be written.
func (a *Allocator) Request(mac string, ip netip.Addr, selecting, ours bool, hostname string) (d Decision, changed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.now()
	cur, has := a.byMAC[mac]
	if selecting && !ours {
		// It took another server's offer: release what we held for it.
		if has && !a.byIP[cur].Bound {
			a.drop(cur)
		}
		return Ignore, false
	}
	if !ip.IsValid() || !a.cfg.Prefix.Contains(ip) {
		return Nak, false
	}
	if r, ok := a.cfg.Reservations[mac]; ok {
		if ip != r {
			return Nak, false
		}
		return Ack, a.bind(mac, ip, hostname, t)
	}
	if has {
		if cur != ip {
			return Nak, false
		}
		return Ack, a.bind(mac, ip, hostname, t)
	}
	if selecting {
		// It answers an offer we no longer hold (expired and reclaimed).
		return Nak, false
	}
	// INIT-REBOOT or renewal of an address we have no record of (say the
	// lease file was lost): grant it if it is a free pool address.
	if !a.inPool(ip) {
		return Nak, false
	}
	if e, used := a.byIP[ip]; used && (e.declined || live(e, t)) {
		return Nak, false
	}
	a.drop(ip)
	return Ack, a.bind(mac, ip, hostname, t)
}

// bind records mac's binding of ip until now + the lease time; it reports
// whether the lease file changes (a new binding or a new host name).
func (a *Allocator) bind(mac string, ip netip.Addr, hostname string, t time.Time) bool {
	h := clean(hostname)
	e, ok := a.byIP[ip]
	changed := !ok || !e.Bound || e.MAC != mac || (h != "" && h != e.Hostname)
	if ok && e.MAC != mac {
		a.drop(ip)
		ok = false
	}
	if !ok {
		e = &entry{Lease: Lease{MAC: mac, IP: ip}}
		a.byIP[ip] = e
	}
	if h != "" {
		e.Hostname = h
	}
	e.Bound, e.Expiry = true, t.Add(a.cfg.LeaseTime)
	a.byMAC[mac] = ip
	return changed
}

// Release ends mac's binding of ip (a RELEASE); changed when it had one.
func (a *Allocator) Release(mac string, ip netip.Addr) (changed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.byIP[ip]
	if !ok || e.MAC != mac {
		return false
	}
	a.drop(ip)
	return e.Bound
}

// Decline takes ip out of the pool for a while: mac found it in use.
func (a *Allocator) Decline(mac string, ip netip.Addr) (changed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.byIP[ip]
	if !ok || e.MAC != mac || !a.inPool(ip) {
		return false
	}
	a.drop(ip)
	a.byIP[ip] = &entry{Lease: Lease{IP: ip, Expiry: a.now().Add(a.cfg.DeclineHold)}, declined: true}
	return e.Bound
}

// Restore loads bindings from the lease file. The box's clock may be
// wrong after a power cut, so the file holds no expiry: every restored
// binding is valid for one lease time from now (the longest a camera may
// still hold it). Leases outside the pool and reservations are dropped.
func (a *Allocator) Restore(leases []Lease) (dropped int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.now()
	for _, l := range leases {
		mac := NormalMAC(l.MAC)
		ok := mac != "" && (a.inPool(l.IP) || a.cfg.Reservations[mac] == l.IP)
		if _, dup := a.byMAC[mac]; dup || !ok {
			dropped++
			continue
		}
		if _, taken := a.byIP[l.IP]; taken {
			dropped++
			continue
		}
		a.bind(mac, l.IP, l.Hostname, t)
	}
	return dropped
}

// Leases returns the current records (bound and offered), by address.
func (a *Allocator) Leases() []Lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Lease, 0, len(a.byIP))
	for _, e := range a.byIP {
		if e.MAC != "" {
			out = append(out, e.Lease)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

// Bound returns the bindings the lease file keeps (also the expired ones:
// a camera that comes back gets its address again).
func (a *Allocator) Bound() []Lease {
	var out []Lease
	for _, l := range a.Leases() {
		if l.Bound {
			out = append(out, l)
		}
	}
	return out
}

// Records is how many addresses the allocator keeps state for (bounded by
// the pool plus the reservations).
func (a *Allocator) Records() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byIP) + len(a.byMAC)
}

// clean keeps a client's host name short and printable.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "")
}

// Lookup finds the record holding ip (bound or offered).
func (a *Allocator) Lookup(ip netip.Addr) (Lease, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.byIP[ip]
	if !ok || e.MAC == "" {
		return Lease{}, false
	}
	return e.Lease, true
}
