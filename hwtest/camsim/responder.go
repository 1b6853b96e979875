package camsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/daemon/discovery"
)

// Responder is the WS-Discovery side of simulated cameras: it multicasts
// a Hello for each camera when it starts and a Bye when it closes, and
// answers every Probe for ONVIF cameras with one ProbeMatches per camera.
// StartResponder opens the socket at once (in the calling thread's
// network namespace).
type Responder struct {
	conn    *ipv4.PacketConn
	matches []discovery.Match
	wg      sync.WaitGroup
	once    sync.Once
	probes  int
	mu      sync.Mutex
}

// StartResponder answers for matches on interface ifname ("" : the
// default multicast interface).
func StartResponder(ifname string, matches []discovery.Match) (*Responder, error) {
	var ifi *net.Interface
	if ifname != "" {
		var err error
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			return nil, fmt.Errorf("camsim: discovery interface: %w", err)
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
		return errors.Join(err, serr)
	}}
	c, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", discovery.Port))
	if err != nil {
		return nil, fmt.Errorf("camsim: discovery listen: %w", err)
	}
	p := ipv4.NewPacketConn(c)
	group := &net.UDPAddr{IP: net.ParseIP(discovery.Group), Port: discovery.Port}
	if err := p.JoinGroup(ifi, group); err != nil {
		c.Close()
		return nil, fmt.Errorf("camsim: discovery join: %w", err)
	}
	if ifi != nil {
		p.SetMulticastInterface(ifi)
	}
	p.SetMulticastLoopback(true)
	p.SetMulticastTTL(1)
	r := &Responder{conn: p, matches: matches}
	for _, m := range matches {
		p.WriteTo(discovery.Hello(m), nil, group)
	}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// Probes is how many probes were answered.
func (r *Responder) Probes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.probes
}

func (r *Responder) serve() {
	defer r.wg.Done()
	buf := make([]byte, discovery.MaxDatagram)
	for {
		n, _, src, err := r.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m, err := discovery.Parse(buf[:n])
		if err != nil || m.Kind != discovery.KindProbe {
			continue
		}
		r.mu.Lock()
		r.probes++
		r.mu.Unlock()
		for _, mm := range r.matches {
			r.conn.WriteTo(discovery.ProbeMatches(m.MessageID, mm), nil, src)
		}
	}
}

// Close multicasts a Bye for each camera and stops.
func (r *Responder) Close() {
	r.once.Do(func() {
		group := &net.UDPAddr{IP: net.ParseIP(discovery.Group), Port: discovery.Port}
		for _, m := range r.matches {
			r.conn.WriteTo(discovery.Bye(m), nil, group)
		}
		r.conn.Close()
		r.wg.Wait()
	})
}
