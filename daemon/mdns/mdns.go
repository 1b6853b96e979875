// Package mdns announces the box on its uplink with multicast DNS and
// DNS-SD (RFC 6762, RFC 6763): it answers A queries for its name
// (matthan-XXXX.local) and advertises the admin page as an _https._tcp
// service, so a technician's phone finds https://matthan-XXXX.local:8443/
// without knowing the address DHCP gave the box.
//
// The records come from github.com/hashicorp/mdns's zone (MDNSService);
// the responder around them is this package's own, because the library's
// server answers every query to the sender's port with the multicast
// message ID 0: plain resolvers (dig, "legacy unicast" in RFC 6762 §6.7)
// then drop the answer. Here a query from a port other than 5353 gets a
// unicast answer with its own ID and question; a query from 5353 gets a
// multicast answer (or unicast when it asks for one, the QU bit).
//
// It listens on the one interface it is given, and only there: the socket
// is bound to the device (SO_BINDTODEVICE), joins the group on that
// interface alone, does not take other interfaces' memberships
// (IP_MULTICAST_ALL off), and drops any packet whose arrival interface is
// not the uplink. The camera network on a second interface never hears
// the box's name.
package mdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	hmdns "github.com/hashicorp/mdns"
	"github.com/matthan/matthan/daemon/boxname"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Port and Group are the mDNS port and IPv4 group.
const Port = 5353

// Group is the IPv4 mDNS multicast group.
var Group = net.IPv4(224, 0, 0, 251)

// Options say what to announce where.
type Options struct {
	// Interface is the uplink: the only interface the responder hears
	// and answers on. Required.
	Interface string
	// Host is the box name without ".local" ("matthan-3456"). Required.
	Host string
	// Instance is the DNS-SD instance name shown by browsers of services
	// ("Mắt Thần matthan-3456"); default "Mắt Thần " + Host.
	Instance string
	// Service is the DNS-SD service type (default "_https._tcp").
	Service string
	// Port is the service's port (the admin page's HTTPS port). Required.
	Port int
	// TXT are the service's TXT strings (default "path=/").
	TXT []string
	// Logf receives one line per notable event (nil: none).
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.Instance == "" {
		o.Instance = "Mắt Thần " + o.Host
	}
	if o.Service == "" {
		o.Service = "_https._tcp"
	}
	if o.TXT == nil {
		o.TXT = []string{"path=/"}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Responder answers mDNS queries on one interface until Close.
type Responder struct {
	o      Options
	ifi    *net.Interface
	pc     *ipv4.PacketConn
	conn   net.PacketConn
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	ips  []netip.Addr
	zone *hmdns.MDNSService
	// lastMulticast is when each question was last answered on the group
	// (RFC 6762 §6: at most once a second; a query flood from the LAN
	// does not turn into a flood of multicast answers).
	lastMulticast map[string]time.Time
	// BoundToDevice says whether SO_BINDTODEVICE took (it needs
	// CAP_NET_RAW; without it the arrival-interface check alone filters).
	BoundToDevice bool
}

const legacyTTL = 10 // seconds, RFC 6762 §6.7

// Start opens the socket on o.Interface and answers until ctx ends or
// Close. It announces the records twice at start and again whenever the
// interface's addresses change.
func Start(ctx context.Context, o Options) (*Responder, error) {
	if o.Interface == "" || o.Host == "" || o.Port <= 0 || o.Port > 65535 {
		return nil, errors.New("mdns: interface, host and port are required")
	}
	if strings.ContainsAny(o.Host, ". ") {
		return nil, fmt.Errorf("mdns: host %q: want one label, without .local", o.Host)
	}
	o = o.withDefaults()
	ifi, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("mdns on %s: %w", o.Interface, err)
	}
	r := &Responder{o: o, ifi: ifi}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			// Other responders (avahi on a developer's machine) may hold 5353 too.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); serr != nil {
				return
			}
			r.BoundToDevice = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, o.Interface) == nil
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", Port))
	if err != nil {
		return nil, fmt.Errorf("mdns on %s: %w", o.Interface, err)
	}
	pc := ipv4.NewPacketConn(conn)
	for _, step := range []func() error{
		func() error { return pc.JoinGroup(ifi, &net.UDPAddr{IP: Group}) },
		func() error { return pc.SetControlMessage(ipv4.FlagInterface, true) },
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetMulticastTTL(255) },
		func() error { return pc.SetMulticastLoopback(false) },
	} {
		if err := step(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("mdns on %s: %w", o.Interface, err)
		}
	}
	r.conn, r.pc = conn, pc
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.serve() }()
	go func() { defer r.wg.Done(); r.announceLoop(ctx) }()
	go func() { <-ctx.Done(); conn.Close() }()
	o.Logf("mdns: announcing %s.local and %q (%s port %d) on %s", o.Host, o.Instance, o.Service, o.Port, o.Interface)
	return r, nil
}

// Close stops answering.
func (r *Responder) Close() error {
	r.cancel()
	r.conn.Close()
	r.wg.Wait()
	return nil
}

// HostName is the fully qualified name answered ("matthan-3456.local.").
func (r *Responder) HostName() string { return r.o.Host + ".local." }

// currentZone returns the records for the interface's IPv4 addresses now,
// and whether they changed since the last call; nil when it has none.
func (r *Responder) currentZone() (*hmdns.MDNSService, bool) {
	ips := interfaceIPv4(r.ifi.Name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Equal(ips, r.ips) {
		return r.zone, false // (a zone that failed is not retried every second)
	}
	r.ips = ips
	r.zone = nil
	if len(ips) == 0 {
		return nil, true
	}
	netIPs := make([]net.IP, len(ips))
	for i, a := range ips {
		netIPs[i] = net.IP(a.AsSlice())
	}
	z, err := hmdns.NewMDNSService(r.o.Instance, r.o.Service, "local.", r.HostName(), r.o.Port, netIPs, r.o.TXT)
	if err != nil {
		r.o.Logf("mdns: records: %v", err)
		return nil, true
	}
	r.zone = z
	return z, true
}

func interfaceIPv4(name string) []netip.Addr {
	var out []netip.Addr
	for _, p := range boxname.Addresses(name) {
		out = append(out, p.Addr())
	}
	return out
}

// names are the zone's names, for case-insensitive matching (the
// library compares exactly; DNS names compare without case).
func (r *Responder) names() []string {
	return []string{
		r.HostName(),
		r.o.Service + ".local.",
		r.o.Instance + "." + r.o.Service + ".local.",
		"_services._dns-sd._udp.local.",
	}
}

// answer is the records for the questions of query (nil when none is
// ours).
func (r *Responder) answer(query *dns.Msg) []dns.RR {
	zone, _ := r.currentZone()
	if zone == nil {
		return nil
	}
	var out []dns.RR
	for _, q := range query.Question {
		q.Qclass &^= 1 << 15
		if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
			continue
		}
		for _, n := range r.names() {
			if strings.EqualFold(q.Name, n) {
				q.Name = n
			}
		}
		out = append(out, zone.Records(q)...)
	}
	return out
}

func (r *Responder) serve() {
	buf := make([]byte, 9000)
	for {
		n, cm, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if cm == nil || cm.IfIndex != r.ifi.Index {
			continue // not the uplink: never answered
		}
		src, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil || q.Response || q.Opcode != dns.OpcodeQuery || q.Rcode != 0 || len(q.Question) == 0 {
			continue
		}
		answers := r.answer(&q)
		if len(answers) == 0 {
			continue
		}
		if err := r.reply(&q, answers, src); err != nil {
			r.o.Logf("mdns: answer to %s: %v", src, err)
		}
	}
}

// reply sends answers as RFC 6762 says for where the query came from.
func (r *Responder) reply(q *dns.Msg, answers []dns.RR, src *net.UDPAddr) error {
	resp := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Compress: true, Answer: answers}
	dst := &net.UDPAddr{IP: Group, Port: Port}
	switch {
	case src.Port != Port: // legacy unicast: a plain resolver such as dig
		resp.Id = q.Id
		resp.Question = q.Question
		for _, rr := range answers {
			rr.Header().Ttl = min(rr.Header().Ttl, legacyTTL)
		}
		dst = src
	case allUnicast(q):
		dst = src
	default:
		if !r.mayMulticast(q, time.Now()) {
			return nil
		}
	}
	return r.send(resp, dst)
}

// mayMulticast says whether the group may get an answer to q now: not
// when the same questions were answered there less than a second ago.
func (r *Responder) mayMulticast(q *dns.Msg, now time.Time) bool {
	var key strings.Builder
	for _, x := range q.Question {
		fmt.Fprintf(&key, "%s/%d ", strings.ToLower(x.Name), x.Qtype)
	}
	k := key.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastMulticast == nil || len(r.lastMulticast) > 64 {
		r.lastMulticast = map[string]time.Time{}
	}
	if last, ok := r.lastMulticast[k]; ok && now.Sub(last) < time.Second {
		return false
	}
	r.lastMulticast[k] = now
	return true
}

func allUnicast(q *dns.Msg) bool {
	for _, x := range q.Question {
		if x.Qclass&(1<<15) == 0 {
			return false
		}
	}
	return true
}

func (r *Responder) send(m *dns.Msg, dst *net.UDPAddr) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	var cm *ipv4.ControlMessage
	if dst.IP.IsMulticast() {
		cm = &ipv4.ControlMessage{IfIndex: r.ifi.Index}
	}
	// A unicast answer follows the routes: its asker came in on the
	// uplink, so it goes out there (and the socket is bound to it).
	_, err = r.pc.WriteTo(b, cm, dst)
	return err
}

// announceLoop sends unsolicited answers (RFC 6762 §8.3) twice, a second
// apart, at start and whenever the addresses change (DHCP renewals, a
// static address set late).
func (r *Responder) announceLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	pending := 0
	for {
		if zone, changed := r.currentZone(); changed && zone != nil {
			pending = 2
		}
		if pending > 0 {
			if err := r.announce(); err != nil {
				r.o.Logf("mdns: announce: %v", err)
			}
			pending--
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Responder) announce() error {
	q := new(dns.Msg)
	q.Question = []dns.Question{
		{Name: r.HostName(), Qtype: dns.TypeA, Qclass: dns.ClassINET},
		{Name: r.o.Service + ".local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET},
	}
	answers := r.answer(q)
	if len(answers) == 0 {
		return nil
	}
	return r.send(&dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Compress: true, Answer: answers},
		&net.UDPAddr{IP: Group, Port: Port})
}
