package dhcpd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"

	"github.com/matthan/matthan/daemon/events"
)

// Server answers DHCP on the camera interface.
//
// It reads with one goroutine and answers in turn (server4.Server starts
// a goroutine per packet, which a flood would turn into unbounded
// goroutines): it uses server4 only for the socket, bound to the
// interface with SO_BINDTODEVICE on 0.0.0.0:67 (binding the interface's
// address would miss the clients' broadcasts).
//
// Replies go by broadcast (255.255.255.255:68 on the interface) unless
// the client already has its address (ciaddr set: renewing, INFORM):
// a client without an address cannot answer ARP, and broadcast needs no
// neighbour entry.
type Server struct {
	// Interface is the camera interface (e.g. eth1).
	Interface string
	Alloc     *Allocator
	Leases    LeaseFile
	// Events receives the second-server and pool-full events.
	Events events.Publisher
	Log    *slog.Logger
	// HWAddr is the interface's MAC: the box's own probes carry it and
	// are not answered.
	HWAddr net.HardwareAddr
	// ProbeEvery is how often the box sends a DISCOVER of its own to
	// find a second server (default 5 min; the first goes at once).
	ProbeEvery time.Duration
	// QuietFor is how long after last seeing another server the box sends
	// no NAKs (default 10 min).
	QuietFor time.Duration

	saveMu sync.Mutex
	rogue  rogues
	full   rateLimit
}

// Serve runs until ctx ends: the server on port 67 and the watcher for a
// second server on port 68, both bound to the interface.
func (s *Server) Serve(ctx context.Context) error {
	s.defaults()
	conn, err := server4.NewIPv4UDPConn(s.Interface, &net.UDPAddr{Port: dhcpv4.ServerPort})
	if err != nil {
		return fmt.Errorf("DHCP server on %s: %w", s.Interface, err)
	}
	watch, err := server4.NewIPv4UDPConn(s.Interface, &net.UDPAddr{Port: dhcpv4.ClientPort})
	if err != nil {
		conn.Close()
		return fmt.Errorf("DHCP watcher on %s: %w", s.Interface, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		conn.Close()
		watch.Close()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.watch(ctx, watch)
	}()
	s.Log.Info("camera network DHCP server", "interface", s.Interface, "server", s.Alloc.cfg.ServerIP,
		"pool", fmt.Sprintf("%v+%d", s.Alloc.cfg.PoolStart, s.Alloc.cfg.PoolSize))
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			stopped := ctx.Err() != nil
			cancel() // closes the watcher too
			<-done
			if stopped {
				return nil
			}
			return fmt.Errorf("DHCP server on %s: %w", s.Interface, err)
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			continue // not DHCP: nothing to say to it
		}
		resp, dst := s.Handle(req)
		if resp == nil {
			continue
		}
		if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
			s.Log.Warn("DHCP reply not sent", "to", dst, "err", err)
		}
	}
}

func (s *Server) defaults() {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.Events == nil {
		s.Events = events.Discard
	}
	if s.ProbeEvery <= 0 {
		s.ProbeEvery = 5 * time.Minute
	}
	if s.QuietFor <= 0 {
		s.QuietFor = 10 * time.Minute
	}
}

// Handle answers one message: the reply and where it goes, or nil.
func (s *Server) Handle(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	s.defaults()
	if req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) != 6 {
		return nil, nil
	}
	if !req.GatewayIPAddr.IsUnspecified() && req.GatewayIPAddr != nil {
		return nil, nil // relayed: the camera network has no relays
	}
	if s.HWAddr != nil && bytes.Equal(req.ClientHWAddr, s.HWAddr) {
		return nil, nil // the box's own probe for a second server
	}
	mac := req.ClientHWAddr.String()
	cfg := s.Alloc.cfg
	serverIP := net.IP(cfg.ServerIP.AsSlice())
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		ip, changed, err := s.Alloc.Offer(mac, addrOf(req.RequestedIPAddress()), req.HostName())
		if err != nil {
			if s.full.allow(time.Now(), 10*time.Minute) {
				s.Events.Publish(events.Event{Type: events.CameraNetworkPoolFull, Start: time.Now(),
					Text: fmt.Sprintf("Hết địa chỉ cho camera (%d địa chỉ đều đang dùng) / camera network pool full (%d addresses in use): camera %s gets no address", cfg.PoolSize, cfg.PoolSize, mac)})
			}
			s.Log.Warn("no address to offer", "mac", mac, "err", err)
			return nil, nil
		}
		s.save(changed)
		return s.reply(req, dhcpv4.MessageTypeOffer, ip)
	case dhcpv4.MessageTypeRequest:
		sid := req.ServerIdentifier()
		selecting := sid != nil && !sid.IsUnspecified()
		ours := selecting && sid.Equal(serverIP)
		if selecting && !ours {
			s.sawServer(addrOf(sid), "request")
		}
		ip := addrOf(req.RequestedIPAddress())
		if !ip.IsValid() {
			ip = addrOf(req.ClientIPAddr)
		}
		d, changed := s.Alloc.Request(mac, ip, selecting, ours, req.HostName())
		s.save(changed)
		switch d {
		case Ack:
			return s.reply(req, dhcpv4.MessageTypeAck, ip)
		case Nak:
			if s.rogue.quiet(time.Now(), s.QuietFor) {
				s.Log.Info("DHCP NAK withheld: another DHCP server is on the camera network", "mac", mac, "ip", ip)
				return nil, nil
			}
			return s.reply(req, dhcpv4.MessageTypeNak, netip.Addr{})
		}
		return nil, nil
	case dhcpv4.MessageTypeRelease:
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(serverIP) {
			return nil, nil
		}
		s.save(s.Alloc.Release(mac, addrOf(req.ClientIPAddr)))
		return nil, nil
	case dhcpv4.MessageTypeDecline:
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(serverIP) {
			return nil, nil
		}
		s.save(s.Alloc.Decline(mac, addrOf(req.RequestedIPAddress())))
		return nil, nil
	case dhcpv4.MessageTypeInform:
		if !cfg.Prefix.Contains(addrOf(req.ClientIPAddr)) {
			return nil, nil
		}
		return s.reply(req, dhcpv4.MessageTypeAck, netip.Addr{})
	}
	return nil, nil
}

// reply builds an OFFER, ACK or NAK for req and chooses its destination
// (RFC 2131 §4.1, without relays).
func (s *Server) reply(req *dhcpv4.DHCPv4, t dhcpv4.MessageType, ip netip.Addr) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	cfg := s.Alloc.cfg
	serverIP := net.IP(cfg.ServerIP.AsSlice())
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(t),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)),
	}
	if t == dhcpv4.MessageTypeNak {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptMessage("address not valid on the camera network")))
	} else {
		// No router and no DNS: the cameras reach the box and nothing else.
		mask := net.CIDRMask(cfg.Prefix.Bits(), 32)
		mods = append(mods,
			dhcpv4.WithOption(dhcpv4.OptSubnetMask(mask)),
			dhcpv4.WithOption(dhcpv4.OptNTPServers(serverIP)),
		)
		if ip.IsValid() {
			mods = append(mods, dhcpv4.WithYourIP(net.IP(ip.AsSlice())),
				dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(cfg.LeaseTime)))
		}
	}
	resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		s.Log.Warn("DHCP reply not built", "err", err)
		return nil, nil
	}
	resp.ServerIPAddr = serverIP
	if t == dhcpv4.MessageTypeNak {
		resp.ClientIPAddr = net.IPv4zero
		resp.SetBroadcast()
	}
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	if t != dhcpv4.MessageTypeNak && req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified() {
		dst.IP = req.ClientIPAddr
	}
	return resp, dst
}

// save writes the lease file when the bindings changed.
func (s *Server) save(changed bool) {
	if !changed || s.Leases.Path == "" {
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if err := s.Leases.Save(s.Alloc.Bound()); err != nil {
		s.Log.Error("camera leases not saved", "err", err)
	}
}

// watch listens on port 68 for another server's OFFERs and ACKs (it sees
// those sent by broadcast) and sends the box's own DISCOVER now and every
// ProbeEvery, which any server on the network answers.
func (s *Server) watch(ctx context.Context, conn net.PacketConn) {
	go func() {
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.probe(conn)
			t.Reset(s.ProbeEvery)
		}
	}()
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		if t := m.MessageType(); t != dhcpv4.MessageTypeOffer && t != dhcpv4.MessageTypeAck {
			continue
		}
		sid := addrOf(m.ServerIdentifier())
		if !sid.IsValid() {
			if u, ok := from.(*net.UDPAddr); ok {
				sid = addrOf(u.IP)
			}
		}
		if sid == s.Alloc.cfg.ServerIP {
			continue
		}
		s.sawServer(sid, "offer")
	}
}

// probe sends one DISCOVER from the box's MAC.
func (s *Server) probe(conn net.PacketConn) {
	if s.HWAddr == nil {
		return
	}
	m, err := dhcpv4.NewDiscovery(s.HWAddr, dhcpv4.WithBroadcast(true))
	if err != nil {
		return
	}
	if _, err := conn.WriteTo(m.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}); err != nil {
		s.Log.Debug("DHCP probe not sent", "err", err)
	}
}

// sawServer records another DHCP server and raises the event (once per
// server per QuietFor).
func (s *Server) sawServer(ip netip.Addr, how string) {
	now := time.Now()
	if !s.rogue.saw(ip, now, s.QuietFor) {
		return
	}
	s.Log.Warn("another DHCP server on the camera network", "server", ip, "seen_by", how)
	s.Events.Publish(events.Event{Type: events.CameraNetworkRogueDHCP, Start: now,
		Text: fmt.Sprintf("Có máy chủ DHCP khác trên mạng camera (%v): có thể một bộ định tuyến bị cắm nhầm vào cổng camera. Hộp không tranh địa chỉ với nó; hãy rút thiết bị đó ra. / "+
			"Another DHCP server is on the camera network (%v): probably a router plugged into the camera port. The box does not fight it; unplug that device.", ip, ip)})
}

// rogues remembers the other servers seen (at most maxRogues).
type rogues struct {
	mu   sync.Mutex
	seen map[netip.Addr]time.Time // last reported
	last time.Time                // last seen, any
}

const maxRogues = 16

// saw notes ip at now; it says whether to report it.
func (r *rogues) saw(ip netip.Addr, now time.Time, every time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = now
	if r.seen == nil {
		r.seen = map[netip.Addr]time.Time{}
	}
	if t, ok := r.seen[ip]; ok && now.Sub(t) < every {
		return false
	}
	if len(r.seen) >= maxRogues {
		var oldest netip.Addr
		for k, t := range r.seen {
			if !oldest.IsValid() || t.Before(r.seen[oldest]) {
				oldest = k
			}
		}
		delete(r.seen, oldest)
	}
	r.seen[ip] = now
	return true
}

// quiet says whether another server was seen within d.
func (r *rogues) quiet(now time.Time, d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.last.IsZero() && now.Sub(r.last) < d
}

// rateLimit lets one thing through per interval.
type rateLimit struct {
	mu   sync.Mutex
	last time.Time
}

func (l *rateLimit) allow(now time.Time, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		return false
	}
	l.last = now
	return true
}

func addrOf(ip net.IP) netip.Addr {
	if ip4 := ip.To4(); ip4 != nil {
		a := netip.AddrFrom4([4]byte(ip4))
		if a.IsUnspecified() {
			return netip.Addr{}
		}
		return a
	}
	return netip.Addr{}
}
