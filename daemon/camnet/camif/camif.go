// Package camif runs the box's side of the camera network on its
// interface: forwarding off, the nf_tables fence (daemon/camnet/fence),
// the DHCP server (daemon/camnet/dhcpd) and the SNTP server
// (daemon/ntp) on a socket bound to the interface, so the cameras set
// their clocks from the box's and their overlays agree with the
// recordings. The interface's address (set by init from the board's
// camera_network, or by a test in a network namespace) gives the network.
package camif

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/daemon/camnet/dhcpd"
	"github.com/matthan/matthan/daemon/camnet/fence"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/ntp"
)

// NTPPort is the SNTP server's port.
const NTPPort = 123

// LeaseFile is where the leases are kept, below the data folder.
const LeaseFile = "camnet/leases.json"

// Config says which interface and what to tell.
type Config struct {
	Interface string
	// DataDir holds the lease file (LeaseFile).
	DataDir string
	// Reservations fix camera addresses by MAC.
	Reservations map[string]netip.Addr
	// LeaseTime of the DHCP leases (default dhcpd.DefaultLeaseTime).
	LeaseTime time.Duration
	Events    events.Publisher
	Log       *slog.Logger
	// ClockSynced says whether the box's clock is synchronised (the SNTP
	// server's leap indicator); nil: unsynchronised.
	ClockSynced func() bool
	// ClockUpstream says where the box's time comes from (stratum,
	// reference) while synchronised; nil: a local reference.
	ClockUpstream func() ntp.Upstream
}

// Network is the camera network, running.
type Network struct {
	Interface string
	Prefix    netip.Prefix // the network, masked
	Addr      netip.Addr   // the box's address on it
	Alloc     *dhcpd.Allocator

	cancel context.CancelFunc
	wg     sync.WaitGroup
	ntp    net.PacketConn
}

// Start sets the camera network up and serves it until ctx ends or Close.
// A fence that cannot be installed (no nf_tables in the kernel) or
// forwarding that cannot be turned off is an error: the box does not
// serve a camera network it cannot shut off.
func Start(ctx context.Context, cfg Config) (*Network, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Events == nil {
		cfg.Events = events.Discard
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("camera interface %s: %w", cfg.Interface, err)
	}
	pfx, err := interfaceAddr(ifi)
	if err != nil {
		return nil, err
	}
	if err := fence.ForwardingOff(); err != nil {
		return nil, err
	}
	if err := fence.Install(cfg.Interface); err != nil {
		return nil, err
	}
	if err := fence.Check(); err != nil {
		return nil, err
	}
	n := &Network{Interface: cfg.Interface, Prefix: pfx.Masked(), Addr: pfx.Addr()}
	start, size := Pool(n.Prefix)
	if n.Alloc, err = dhcpd.NewAllocator(dhcpd.Config{ServerIP: n.Addr, Prefix: n.Prefix, PoolStart: start, PoolSize: size,
		LeaseTime: cfg.LeaseTime, Reservations: cfg.Reservations}, nil); err != nil {
		return nil, fmt.Errorf("camera network %s: %w", cfg.Interface, err)
	}
	lf := dhcpd.LeaseFile{Path: filepath.Join(cfg.DataDir, LeaseFile)}
	if cfg.DataDir == "" {
		lf.Path = ""
	} else if leases, err := lf.Load(); err != nil {
		cfg.Log.Error("camera leases unreadable: starting with none (cameras keep their addresses by asking for them again)", "err", err)
	} else if dropped := n.Alloc.Restore(leases); dropped > 0 {
		cfg.Log.Warn("camera leases dropped at restore", "count", dropped)
	}
	srv := &dhcpd.Server{Interface: cfg.Interface, Alloc: n.Alloc, Leases: lf, Events: cfg.Events,
		Log: cfg.Log.With("component", "dhcpd"), HWAddr: ifi.HardwareAddr}
	if n.ntp, err = ListenUDP(cfg.Interface, NTPPort); err != nil {
		return nil, fmt.Errorf("SNTP server on %s: %w", cfg.Interface, err)
	}
	ctx, n.cancel = context.WithCancel(ctx)
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		for ctx.Err() == nil {
			if err := srv.Serve(ctx); err != nil {
				cfg.Log.Error("camera network DHCP server stopped; restarting in 5 s", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
			}
		}
	}()
	go func() {
		defer n.wg.Done()
		s := &ntp.Server{Synced: cfg.ClockSynced, Upstream: cfg.ClockUpstream}
		if err := s.Serve(ctx, n.ntp); err != nil && !errors.Is(err, context.Canceled) {
			cfg.Log.Error("camera network SNTP server stopped", "err", err)
		}
	}()
	cfg.Log.Info("camera network up", "interface", cfg.Interface, "box", n.Addr, "network", n.Prefix,
		"pool", fmt.Sprintf("%v+%d", start, size), "fence", fence.TableName)
	return n, nil
}

// Close stops the servers (the fence stays: the network stays shut).
func (n *Network) Close() error {
	n.cancel()
	n.ntp.Close()
	n.wg.Wait()
	return nil
}

// Leases are the cameras' addresses now.
func (n *Network) Leases() []dhcpd.Lease { return n.Alloc.Leases() }

// Pool is the DHCP pool of a camera network: 64 addresses from .100 on a
// /24 or larger, else from the second address.
func Pool(p netip.Prefix) (netip.Addr, int) {
	a := p.Masked().Addr()
	skip := 2
	if p.Bits() <= 24 {
		skip = 100
	}
	for range skip {
		a = a.Next()
	}
	return a, dhcpd.DefaultPoolSize
}

// interfaceAddr is the interface's first IPv4 address with its prefix.
func interfaceAddr(ifi *net.Interface) (netip.Prefix, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("camera interface %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			ones, _ := ipn.Mask.Size()
			return netip.PrefixFrom(netip.AddrFrom4([4]byte(ipn.IP.To4())), ones), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("camera interface %s has no IPv4 address (init sets the board's camera_network address)", ifi.Name)
}

// ListenUDP opens a UDP socket on 0.0.0.0:port bound to iface
// (SO_BINDTODEVICE): it hears only what arrives on that interface.
func ListenUDP(iface string, port int) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", port))
}
