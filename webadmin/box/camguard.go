package box

import (
	"log/slog"
	"net"
	"net/netip"
)

// cameraGuard refuses connections that come from the camera network (the
// admin page is for the uplink): the nf_tables fence drops them first,
// this is the second wall for a box whose fence is down. iface is the
// camera interface; its networks are read at each accept (its address is
// set by init, or later).
type cameraGuard struct {
	net.Listener
	iface string
	log   *slog.Logger
}

func guardCameraNet(ln net.Listener, iface string, log *slog.Logger) net.Listener {
	if iface == "" {
		return ln
	}
	return &cameraGuard{Listener: ln, iface: iface, log: log}
}

func (g *cameraGuard) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !g.fromCameras(c) {
			return c, nil
		}
		g.log.Warn("admin page: connection from the camera network refused", "from", c.RemoteAddr())
		c.Close()
	}
}

// fromCameras says whether c's either end is on the camera interface's
// networks.
func (g *cameraGuard) fromCameras(c net.Conn) bool {
	ifi, err := net.InterfaceByName(g.iface)
	if err != nil {
		return false
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return false
	}
	ends := []net.Addr{c.RemoteAddr(), c.LocalAddr()}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		p, err := netip.ParsePrefix(ipn.String())
		if err != nil {
			continue
		}
		for _, e := range ends {
			if ap, err := netip.ParseAddrPort(e.String()); err == nil && p.Masked().Contains(ap.Addr().Unmap()) {
				return true
			}
		}
	}
	return false
}
