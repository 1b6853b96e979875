package app

import (
	"context"
	"sync"
	"time"

	"net/netip"

	"github.com/matthan/matthan/daemon/camnet/camif"
	"github.com/matthan/matthan/daemon/camnet/dhcpd"
	"github.com/matthan/matthan/daemon/discovery"
)

// cameraNet runs the camera network (config camera_interface) in the
// background: recording never waits for it, and a camera interface that
// is not there yet (a USB adapter plugged in later) is tried again.
type cameraNet struct {
	mu  sync.Mutex
	net *camif.Network
	err error
}

const cameraNetRetry = 5 * time.Second

func (c *Core) startCameraNet(ctx context.Context) {
	iface := c.cfg.CameraInterface
	if iface == "" {
		return
	}
	go func() {
		for {
			cc := camif.Config{Interface: iface, DataDir: c.cfg.DataDir,
				Events: c.pub, Log: c.log.With("component", "camnet")}
			if c.Clock != nil { // the cameras get the box's time and its state
				cc.ClockSynced, cc.ClockUpstream = c.Clock.Synced, c.Clock.Upstream
			}
			n, err := camif.Start(ctx, cc)
			c.camNet.mu.Lock()
			c.camNet.net, c.camNet.err = n, err
			c.camNet.mu.Unlock()
			if err == nil {
				// Discovery on the same interface, its finds matched
				// with the leases (pairing lists them while open).
				if err := c.StartDiscovery(iface, leaseLookup{n.Alloc}); err != nil {
					c.log.Error("camera discovery not started", "interface", iface, "err", err)
				}
				<-ctx.Done()
				n.Close()
				return
			}
			c.log.Error("camera network not up; trying again", "interface", iface, "err", err, "in", cameraNetRetry)
			select {
			case <-ctx.Done():
				return
			case <-time.After(cameraNetRetry):
			}
		}
	}()
}

// CameraNetLeases are the camera network's DHCP leases (nil: no camera
// network, or not up yet).
func (c *Core) CameraNetLeases() []dhcpd.Lease {
	c.camNet.mu.Lock()
	defer c.camNet.mu.Unlock()
	if c.camNet.net == nil {
		return nil
	}
	return c.camNet.net.Leases()
}

// leaseLookup gives discovery the DHCP leases.
type leaseLookup struct{ a *dhcpd.Allocator }

func (l leaseLookup) LookupIP(ip netip.Addr) (discovery.Lease, bool) {
	le, ok := l.a.Lookup(ip)
	return discovery.Lease{MAC: le.MAC, Hostname: le.Hostname}, ok
}

// PressPairingButton does what a press of the box's pairing button does
// (opens pairing). matthand on a host without GPIO takes SIGUSR1 as the
// press (development, and the camera network's tests).
func (c *Core) PressPairingButton() {
	c.log.Info("lights: pairing button pressed (SIGUSR1: no GPIO on this host)")
	if f := c.Lights.onPress.Load(); f != nil {
		(*f)()
	}
}
