package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/positive"
)

// Lease is what the DHCP server knows of an address.
type Lease struct {
	MAC      string // aa:bb:cc:dd:ee:ff
	Hostname string
}

// LeaseLookup finds the lease holding an address (the box's DHCP server
// satisfies it; nil: no DHCP, cameras with fixed addresses).
type LeaseLookup interface {
	LookupIP(ip netip.Addr) (Lease, bool)
}

// Leased is one lease: an address and what holds it.
type Leased struct {
	Addr netip.Addr
	Lease
}

// LeaseLister is a LeaseLookup that also lists its leases: cameras with
// ONVIF (and so WS-Discovery) turned off are found by their lease alone.
type LeaseLister interface {
	LeaseLookup
	Leased() []Leased
}

// Found is a camera discovered on the camera network.
type Found struct {
	Endpoint string     // WS-Discovery endpoint (urn:uuid:…), stable per camera
	Addr     netip.Addr // the address it answered from
	Device   string     // device service URL, on Addr (checked by the policy)
	Name     string     // onvif name scope
	Hardware string     // onvif hardware scope (model)
	MAC      string     // from the DHCP lease, "" if none
	Hostname string     // from the DHCP lease
	Leased   bool       // a lease of ours holds Addr
	First    time.Time
	Last     time.Time
	Gone     bool // said Bye (until seen again)
}

// Config says where and how to discover.
type Config struct {
	// Interface is the camera network interface ("" : the default
	// multicast interface; tests and host mode).
	Interface string
	// Interval between probe rounds (default 30 s); a round sends
	// Repeat probes (default 3) a second apart.
	Interval time.Duration
	Repeat   int
	// Policy checks addresses found (only those allowed are kept).
	Policy camnet.Policy
	// Leases matches addresses with DHCP leases (nil: none).
	Leases LeaseLookup
	// OnFind is called (from Run's goroutine) when a camera appears,
	// changes address, or leaves (Gone). It must not block long.
	OnFind func(Found)
	// Max is how many cameras are remembered (default 256; the least
	// recently seen is forgotten first).
	Max int
	// Logf receives one line per notable event (nil: silent).
	Logf func(format string, args ...any)
}

// Discoverer probes and listens. Listen opens its sockets at once (in
// the calling thread's network namespace); Run uses them.
type Discoverer struct {
	cfg    Config
	ifi    *net.Interface
	listen *ipv4.PacketConn // :3702, joined to the group: Hello, Bye
	probe  *ipv4.PacketConn // ephemeral port: probes out, ProbeMatches in
	kick   chan struct{}

	mu     sync.Mutex
	found  map[string]*Found // by endpoint
	probes map[string]bool   // our recent probe message ids
}

// Listen opens the sockets.
func Listen(cfg Config) (*Discoverer, error) {
	cfg.Interval = positive.Or(cfg.Interval, 30*time.Second)
	cfg.Repeat = positive.Or(cfg.Repeat, 3)
	cfg.Max = positive.Or(cfg.Max, 256)
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	d := &Discoverer{cfg: cfg, kick: make(chan struct{}, 1), found: map[string]*Found{}, probes: map[string]bool{}}
	if cfg.Interface != "" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("discovery: camera interface %s: %w", cfg.Interface, err)
		}
		d.ifi = ifi
	}
	group := &net.UDPAddr{IP: net.ParseIP(Group)}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if serr == nil && cfg.Interface != "" {
				serr = unix.BindToDevice(int(fd), cfg.Interface)
			}
		})
		return errors.Join(err, serr)
	}}
	lconn, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", Port))
	if err != nil {
		return nil, fmt.Errorf("discovery: listen on port %d: %w", Port, err)
	}
	d.listen = ipv4.NewPacketConn(lconn)
	if err := d.listen.JoinGroup(d.ifi, group); err != nil {
		lconn.Close()
		return nil, fmt.Errorf("discovery: join %s: %w", Group, err)
	}
	pconn, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:0")
	if err != nil {
		lconn.Close()
		return nil, fmt.Errorf("discovery: probe socket: %w", err)
	}
	d.probe = ipv4.NewPacketConn(pconn)
	if d.ifi != nil {
		if err := d.probe.SetMulticastInterface(d.ifi); err != nil {
			d.Close()
			return nil, fmt.Errorf("discovery: multicast on %s: %w", cfg.Interface, err)
		}
	}
	d.probe.SetMulticastTTL(1)
	d.probe.SetMulticastLoopback(true)
	return d, nil
}

// Close closes the sockets (Run returns).
func (d *Discoverer) Close() {
	d.listen.Close()
	if d.probe != nil {
		d.probe.Close()
	}
}

// ProbeNow starts a probe round now (pairing just opened).
func (d *Discoverer) ProbeNow() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Found returns the cameras found, most recently seen first.
func (d *Discoverer) Found() []Found {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Found, 0, len(d.found))
	for _, f := range d.found {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	return out
}

// Run probes every Interval and reads replies until ctx ends.
func (d *Discoverer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		d.Close()
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.read(ctx, d.listen) }()
	go func() { defer wg.Done(); d.read(ctx, d.probe) }()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
		case <-d.kick:
		}
		d.round(ctx)
		t.Reset(d.cfg.Interval)
	}
}

// round sends Repeat probes a second apart (UDP multicast is lossy).
func (d *Discoverer) round(ctx context.Context) {
	dst := &net.UDPAddr{IP: net.ParseIP(Group), Port: Port}
	for i := 0; i < d.cfg.Repeat; i++ {
		id := NewMessageID()
		d.mu.Lock()
		if len(d.probes) > 64 {
			clear(d.probes)
		}
		d.probes[id] = true
		d.mu.Unlock()
		if _, err := d.probe.WriteTo(Probe(id), nil, dst); err != nil {
			d.cfg.Logf("discovery: probe: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (d *Discoverer) read(ctx context.Context, c *ipv4.PacketConn) {
	buf := make([]byte, MaxDatagram)
	for {
		n, _, src, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			d.cfg.Logf("discovery: read: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		from, ok := netip.AddrFromSlice(ua.IP)
		if !ok {
			continue
		}
		m, err := Parse(buf[:n])
		if err != nil {
			continue // not for us: never logged per packet (a flood would fill the log)
		}
		d.handle(m, from.Unmap(), time.Now())
	}
}

// handle takes one message from address from.
func (d *Discoverer) handle(m Message, from netip.Addr, now time.Time) {
	switch m.Kind {
	case KindProbeMatches:
		d.mu.Lock()
		ours := d.probes[m.RelatesTo]
		d.mu.Unlock()
		if !ours {
			return
		}
		for _, mm := range m.Matches {
			d.seen(mm, from, now)
		}
	case KindHello:
		for _, mm := range m.Matches {
			d.seen(mm, from, now)
		}
	case KindBye:
		for _, mm := range m.Matches {
			d.bye(mm.Endpoint, from)
		}
	}
}

// deviceAddr picks the device service address on the sender's address
// (a camera may list addresses on several networks, or 0.0.0.0).
func (d *Discoverer) deviceAddr(xaddrs []string, from netip.Addr) (string, bool) {
	if d.cfg.Policy.CheckAddr(from) != nil {
		return "", false
	}
	for _, x := range xaddrs {
		u, err := url.Parse(x)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		h, err := netip.ParseAddr(u.Hostname())
		if err != nil {
			continue
		}
		if h.Unmap() == from || h.IsUnspecified() {
			host := from.String()
			if p := u.Port(); p != "" {
				host = net.JoinHostPort(host, p)
			}
			u.Host = host
			u.User = nil
			return u.String(), true
		}
	}
	return "", false
}

func (d *Discoverer) seen(mm Match, from netip.Addr, now time.Time) {
	dev, ok := d.deviceAddr(mm.XAddrs, from)
	if !ok {
		return
	}
	var lease Lease
	leased := false
	if d.cfg.Leases != nil {
		lease, leased = d.cfg.Leases.LookupIP(from)
	}
	d.mu.Lock()
	f, had := d.found[mm.Endpoint]
	if !had {
		d.evictLocked()
		f = &Found{Endpoint: mm.Endpoint, First: now}
		d.found[mm.Endpoint] = f
	}
	changed := !had || f.Addr != from || f.Gone || f.MAC != lease.MAC || f.Device != dev
	f.Addr, f.Device, f.Last, f.Gone = from, dev, now, false
	f.Name, f.Hardware = mm.Scope("name"), mm.Scope("hardware")
	f.MAC, f.Hostname, f.Leased = lease.MAC, lease.Hostname, leased
	out := *f
	d.mu.Unlock()
	if changed {
		d.cfg.Logf("discovery: camera %s at %s (MAC %s)", out.Endpoint, out.Addr, out.MAC)
		if d.cfg.OnFind != nil {
			d.cfg.OnFind(out)
		}
	}
}

func (d *Discoverer) bye(endpoint string, from netip.Addr) {
	d.mu.Lock()
	f, ok := d.found[endpoint]
	if !ok || f.Addr != from || f.Gone {
		d.mu.Unlock()
		return
	}
	f.Gone = true
	out := *f
	d.mu.Unlock()
	if d.cfg.OnFind != nil {
		d.cfg.OnFind(out)
	}
}

// evictLocked forgets the least recently seen camera when the table is full.
func (d *Discoverer) evictLocked() {
	if len(d.found) < d.cfg.Max {
		return
	}
	var oldest string
	var ot time.Time
	for k, f := range d.found {
		if oldest == "" || f.Last.Before(ot) {
			oldest, ot = k, f.Last
		}
	}
	delete(d.found, oldest)
}
