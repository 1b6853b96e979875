package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/discovery"
	"github.com/matthan/matthan/daemon/lights"
	"github.com/matthan/matthan/daemon/onvif"
	"github.com/matthan/matthan/daemon/pairing"
)

// startPairing makes the pairing manager over the camera records: the
// pairing button opens it, the status LED blinks while it is open.
func (c *Core) startPairing(log *slog.Logger) {
	if c.Records == nil {
		return
	}
	plog := logf(log, "pairing")
	c.Pairing = pairing.New(pairing.Config{
		Records: c.Records,
		Apply:   c.ApplyCamera,
		Policy:  c.cfg.CameraPolicy(),
		Logf:    plog,
		OnChange: func(open bool) {
			if open {
				if d := c.discovery.Load(); d != nil {
					d.ProbeNow()
					// Cameras plugged in before the window opened
					// (the usual order: plug in, then press the
					// button) were found already: list them too.
					go func() {
						for _, f := range d.Found() {
							c.Pairing.Found(f)
						}
					}()
					// c.leases is set before discovery is stored.
					if l, ok := c.leases.(discovery.LeaseLister); ok {
						go c.listLeases(l)
					}
				}
			}
			if open && c.Lights.Status != nil {
				c.Lights.Status.Set(lights.Pairing) // at once; the status watcher keeps it while open
			}
		},
	})
	press := func() { c.Pairing.Open() }
	isOpen := c.Pairing.IsOpen
	c.Lights.onPress.Store(&press)
	c.Lights.pairingOpen.Store(&isOpen)
}

// StartDiscovery runs WS-Discovery on the camera interface (iface; ""
// is the default multicast interface, for host mode) until the core
// closes: cameras found go to the pairing (new ones listed while it is
// open, paired ones followed to new addresses). leases is the box's DHCP
// server (nil: none). The sockets are opened before it returns.
func (c *Core) StartDiscovery(iface string, leases discovery.LeaseLookup) error {
	if c.Pairing == nil {
		return fmt.Errorf("discovery: no camera records, no pairing")
	}
	d, err := discovery.Listen(discovery.Config{Interface: iface, Policy: c.cfg.CameraPolicy(), Leases: leases,
		OnFind: c.Pairing.Found, Logf: logf(c.log, "discovery")})
	if err != nil {
		return err
	}
	c.leases = leases
	c.discovery.Store(d)
	go d.Run(c.bg)
	return nil
}

// findSub gives a camera added by hand without a sub stream the one its
// ONVIF names (one question per saved address; in the background, so the
// page's save does not wait on the camera) and saves it.
func (c *Core) findSub(r cameras.Record) {
	if r.SubURL != "" || r.Paired || c.Records == nil {
		return
	}
	if _, tried := c.subTried.LoadOrStore(r.ID+"\x00"+r.URL, true); tried {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(c.bg, time.Minute)
		defer cancel()
		sub, err := pairing.FindSub(ctx, c.cfg.CameraPolicy(), r.URL, nil)
		if err != nil {
			c.log.Info("camera has no known sub stream: live view uses the main stream", "camera", r.ID, "why", onvif.Problem(err))
			return
		}
		cur, ok := c.Records.Get(r.ID)
		if !ok || cur.URL != r.URL || cur.SubURL != "" {
			return
		}
		cur.SubURL = sub
		if err := c.ApplyCamera(ctx, cur); err != nil {
			c.log.Warn("camera sub stream not saved", "camera", r.ID, "err", err)
			return
		}
		c.log.Info("camera sub stream found by ONVIF", "camera", r.ID)
	}()
}

// Previews: at most maxPreviews at once, each for previewFor.
const (
	maxPreviews = 4
	previewFor  = 5 * time.Minute
)

// Preview shows a new camera being paired on the live page (main and sub
// stream with the login entered): a camera that only feeds the live hub,
// not recorded, not analysed, gone after five minutes, at pairing, or at
// StopPreview. It returns the camera name to watch.
func (c *Core) Preview(key, main, sub string) (string, error) {
	id := pairing.PreviewID(key)
	c.previewMu.Lock()
	defer c.previewMu.Unlock()
	if c.previews == nil {
		c.previews = map[string]*time.Timer{}
	}
	if t, ok := c.previews[key]; ok {
		t.Stop()
	} else if len(c.previews) >= maxPreviews {
		return "", fmt.Errorf("preview: %d cameras are previewed already", maxPreviews)
	}
	if c.cfg.CameraPolicy().CheckURL(context.Background(), main) != nil {
		return "", fmt.Errorf("preview: camera address not on the camera network")
	}
	if err := c.cams.start(cameraSpec{Name: id, URL: main, SubURL: sub, Recording: config.RecordOff, NoMotion: true}); err != nil {
		return "", err
	}
	c.previews[key] = time.AfterFunc(previewFor, func() { c.StopPreview(key) })
	return id, nil
}

// StopPreview ends the preview of key (if any).
func (c *Core) StopPreview(key string) {
	c.previewMu.Lock()
	t, ok := c.previews[key]
	delete(c.previews, key)
	c.previewMu.Unlock()
	if !ok {
		return
	}
	t.Stop()
	c.cams.RemoveCamera(context.Background(), pairing.PreviewID(key))
}

// listLeases lists, while pairing is open, the cameras that hold a lease
// (those with WS-Discovery off are found so; the others are listed once,
// by MAC, whichever way they are found).
func (c *Core) listLeases(l discovery.LeaseLister) {
	if !c.leaseLoop.CompareAndSwap(false, true) {
		return // one loop at a time
	}
	defer c.leaseLoop.Store(false)
	for c.Pairing.IsOpen() && c.bg.Err() == nil {
		for _, le := range l.Leased() {
			c.Pairing.FoundLease(le.Addr, le.MAC, le.Hostname)
		}
		select {
		case <-c.bg.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}
