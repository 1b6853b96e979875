package storage

import (
	"errors"
	"fmt"
	"math"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// A recording disk (a USB disk beside the SD card) is a second Store, opened
// on the disk's own data directory with its own retention and free-space
// floor, and attached to the card's Store (the primary) with AttachDisk.
// While it is attached, the primary creates every new segment on it; queries
// of the primary (Segments, Cameras, Oldest, Path, Export) span both, so the
// card's segments recorded before or while the disk was away stay listed and
// playable. When the disk fails (a write, fsync or journal append fails with
// an I/O error, or DetachDisk is called because it was unplugged), it is
// marked lost: its open writers fail fast with ErrDiskLost (the recorder
// closes the segment best-effort and starts the next one, which the primary
// creates on the card), its segments leave the listing and its store is
// closed. Nothing on it is touched: when it comes back, it is opened again
// (start-up repair closes the segments the loss cut) and attached again.

// ErrDiskLost is returned by a segment writer on a recording disk that
// failed or was detached: start the next segment (it goes to the card).
var ErrDiskLost = errors.New("storage: recording disk lost")

// AttachDisk makes d, a Store opened on a recording disk, the place where s
// creates new segments. d must not have a disk of its own.
func (s *Store) AttachDisk(d *Store) error {
	if d == s || d == nil || d.disk.Load() != nil || d.parent.Load() != nil {
		return errors.New("storage: attach disk: not a separate store")
	}
	if d.lost.Load() {
		return ErrDiskLost
	}
	d.parent.Store(s)
	if !s.disk.CompareAndSwap(nil, d) {
		d.parent.Store(nil)
		return errors.New("storage: attach disk: a recording disk is already attached")
	}
	s.opts.Logf("storage: recording to the disk at %s", d.dir)
	return nil
}

// Disk is the attached recording disk's store, nil when there is none.
func (s *Store) Disk() *Store { return s.disk.Load() }

// DetachDisk marks the attached recording disk lost (reason says why: it
// was unplugged, or it failed) and closes its store. It is a no-op without
// a disk.
func (s *Store) DetachDisk(reason error) {
	if d := s.disk.Load(); d != nil {
		s.loseDisk(d, reason)
	}
}

// Lost reports whether this store's disk was lost (only a recording disk's
// store is ever lost).
func (s *Store) Lost() bool { return s.lost.Load() }

func (s *Store) loseDisk(d *Store, reason error) {
	if !s.disk.CompareAndSwap(d, nil) {
		return // already lost
	}
	d.lost.Store(true)
	// What was written onto it stays counted.
	ds := d.ownStats()
	s.stats.video.Add(ds.VideoBytes)
	s.stats.index.Add(ds.IndexBytes)
	s.stats.fsyncs.Add(ds.FileSyncs)
	s.stats.isyncs.Add(ds.IndexSyncs)
	s.stats.dsyncs.Add(ds.DirSyncs)
	s.stats.deleted.Add(ds.Deleted)
	s.stats.werr.Add(ds.WriteErrors)
	s.opts.Logf("storage: recording disk at %s lost (%v): recording to the card", d.dir, reason)
	s.opts.Events.Publish(events.Event{Type: events.DiskError, Start: s.opts.Now(),
		Text: fmt.Sprintf("Mất ổ ghi hình USB, đang ghi vào thẻ nhớ / Recording disk lost, recording to the SD card: %v", reason)})
	if s.opts.DiskLost != nil {
		s.opts.DiskLost(reason)
	}
	// Closing waits for the disk's retention pass; never in the writer's way.
	go d.Close()
}

// diskFailure wraps err as ErrDiskLost when s is a recording disk and err
// says the disk is failing (an I/O error, read-only after errors, the
// device gone), marking the disk lost. Other errors pass unchanged.
func (s *Store) diskFailure(err error) error {
	if err == nil || errors.Is(err, ErrDiskLost) {
		return err
	}
	p := s.parent.Load()
	if p == nil {
		return err
	}
	if s.lost.Load() {
		return fmt.Errorf("%w: %w", ErrDiskLost, err)
	}
	for _, e := range []error{syscall.EIO, syscall.EROFS, syscall.ENODEV, syscall.ENXIO, syscall.ESTALE, syscall.ENOTCONN, syscall.ESHUTDOWN} {
		if errors.Is(err, e) {
			p.loseDisk(s, err)
			return fmt.Errorf("%w: %w", ErrDiskLost, err)
		}
	}
	return err
}

// lastStart is the start of camera's newest segment (MinInt64 if none).
func (s *Store) lastStart(cam string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.cams[cam]; c != nil && len(c.segs) > 0 {
		return c.segs[len(c.segs)-1].start
	}
	return math.MinInt64
}

// createOnDisk creates the segment on the attached recording disk; ok is
// false when there is none or it was lost (create on the card then).
func (s *Store) createOnDisk(cameraName string, start time.Time, init []byte) (w *SegmentWriter, ok bool, err error) {
	d := s.disk.Load()
	if d == nil {
		return nil, false, nil
	}
	// A camera's starts increase across both stores, so the listing, which
	// merges them, never holds two segments with one start.
	if ls := s.lastStart(cameraName); ls != math.MinInt64 && unixNano(start) <= ls {
		start = time.Unix(0, ls+int64(time.Millisecond))
	}
	w, err = d.Create(cameraName, start, init)
	if errors.Is(err, ErrDiskLost) {
		return nil, false, nil
	}
	return w, true, err
}

// mergeSegments merges two lists sorted by start.
func mergeSegments(a, b []Segment) []Segment {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]Segment, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].Start.Before(a[0].Start) {
			out = append(out, b[0])
			b = b[1:]
		} else {
			out = append(out, a[0])
			a = a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// Elsewhere reports whether new segments now go to another disk than w's: w
// is on the card and a recording disk was attached since. The recorder cuts
// the segment at the next key frame, so recording returns to the disk.
func (w *SegmentWriter) Elsewhere() bool { return w.s.disk.Load() != nil }
