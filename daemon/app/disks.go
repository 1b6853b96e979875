package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/matthan/matthan/daemon/disks"
	"github.com/matthan/matthan/daemon/storage"
)

// recordingDisks runs the USB recording disk watcher on the box (where
// there is a board file: the host's own disks are not ours) and connects
// it to the card's store. lost is what the card's store calls when the disk
// fails (storage.Options.DiskLost).
type recordingDisks struct {
	mgr atomic.Pointer[disks.Manager]
}

func (r *recordingDisks) lost(reason error) {
	if m := r.mgr.Load(); m != nil {
		m.Lost(reason)
	}
}

// alarm reports whether the recording disk is lost (the status LED).
func (r *recordingDisks) alarm() bool {
	m := r.mgr.Load()
	return m != nil && m.Alarm()
}

// start begins watching the USB disks with opts (its Target a
// RecordingDisk on the card's store; its StateFile remembers the disk
// across reboots, so a box booting without it raises the alarm).
func (r *recordingDisks) start(ctx context.Context, opts disks.Options, log *slog.Logger) *disks.Manager {
	if opts.Logf == nil {
		opts.Logf = logf(log, "disks")
	}
	m := disks.New(opts)
	r.mgr.Store(m)
	go m.Run(ctx)
	return m
}

// RecordingDisk is the disks.Manager's target: it opens a store on the
// mounted recording disk (with the disk's own floor and retention, Options)
// and attaches it to the card's store, where new segments then go.
type RecordingDisk struct {
	Ctx     context.Context
	Card    *storage.Store
	Options storage.Options
	// MountPoint refuses a folder that is not a mount point (on the box:
	// an unmounted folder would be the card below it).
	MountPoint bool
}

// AttachDisk implements disks.Target.
func (r RecordingDisk) AttachDisk(dir string) error {
	if r.MountPoint && !disks.IsMountPoint(dir) {
		return fmt.Errorf("%s is not a mount point: not recording into the card below it", dir)
	}
	d, err := storage.Open(r.Ctx, dir, r.Options)
	if err != nil {
		return err
	}
	if err := r.Card.AttachDisk(d); err != nil {
		d.Close()
		return err
	}
	return nil
}

// DetachDisk implements disks.Target.
func (r RecordingDisk) DetachDisk(reason error) { r.Card.DetachDisk(reason) }
