package app

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/matthan/matthan/daemon/disks"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/webadmin/adapt"
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

// start begins watching the USB disks; store is the card's store and opts
// the options its recording disk's store gets (its own floor and
// retention apply on that disk); stateFile remembers the disk across
// reboots (a box booting without it raises the alarm).
func (r *recordingDisks) start(ctx context.Context, store *storage.Store, opts storage.Options, stateFile string, log *slog.Logger) *disks.Manager {
	m := disks.New(disks.Options{Target: adapt.RecordingDisk{Ctx: ctx, Card: store, Options: opts, MountPoint: true},
		StateFile: stateFile, Logf: logf(log, "disks")})
	r.mgr.Store(m)
	go m.Run(ctx)
	return m
}
