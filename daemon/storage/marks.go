package storage

import (
	"fmt"
	"time"
)

// Retention is how long one camera's video is kept (Options.Retention).
//
// Days deletes the camera's segments that ended more than Days ago (0: the
// store's RetentionDays; when that is 0 too, video stays until space runs
// low). EventDays, when more than Days, is the mixed mode: segments that
// hold an event (MarkEvent) are kept EventDays, the rest Days. Whatever
// the ages, when the free-space floor is reached, segments without an
// event go before any segment with one.
type Retention struct {
	Days, EventDays int
}

// keepDays is how many days a segment is kept by age; 0 is until space runs low.
func (r Retention) keepDays(event bool) int {
	if event && r.Days > 0 && r.EventDays > r.Days {
		return r.EventDays
	}
	return r.Days
}

// expired says whether a segment that ended at end (Unix ns) is past its
// age at now.
func (r Retention) expired(end int64, event bool, now time.Time) bool {
	d := r.keepDays(event)
	return d > 0 && end < now.Add(-time.Duration(d)*24*time.Hour).UnixNano()
}

// retentionOf is camera's retention, the store's days filling in.
func (s *Store) retentionOf(camera string) Retention {
	var r Retention
	if s.opts.Retention != nil {
		r = s.opts.Retention(camera)
	}
	if r.Days <= 0 {
		r.Days = s.opts.RetentionDays
	}
	return r
}

// MarkEvent marks camera's segments that overlap [from, to] as holding an
// event, on the card and on the recording disk, and makes segments started
// before to marked as they start (an event's post-buffer reaches into the
// next segment). The marks are records in the camera's journal, fsynced
// before MarkEvent returns, so they survive a restart or a power cut;
// marking a marked segment again writes nothing.
func (s *Store) MarkEvent(camera string, from, to time.Time) error {
	var err error
	if d := s.disk.Load(); d != nil {
		err = d.MarkEvent(camera, from, to)
	}
	if s.lost.Load() {
		return err
	}
	s.mu.RLock()
	c := s.cams[camera]
	s.mu.RUnlock()
	if c == nil {
		return err // nothing recorded here yet
	}
	f, t := unixNano(from), unixNano(to)
	c.jmu.Lock()
	defer c.jmu.Unlock()
	var recs []record
	s.mu.Lock()
	c.markUntil = max(c.markUntil, t)
	for i := len(c.segs) - 1; i >= 0; i-- {
		e := c.segs[i]
		open := c.open != nil && c.open.start == e.start
		if e.start > t {
			continue
		}
		if e.end() < f && !open {
			break // segments are sorted: the older ones end before f too
		}
		if !c.marked[e.start] {
			recs = append(recs, record{kind: recEvent, start: e.start})
		}
	}
	s.mu.Unlock()
	if len(recs) == 0 {
		return err
	}
	if aerr := s.appendRecords(c, true, recs...); aerr != nil {
		return fmt.Errorf("storage: mark event of %s: %w", camera, s.diskFailure(aerr))
	}
	s.mu.Lock()
	for _, r := range recs {
		c.marked[r.start] = true // deletes take jmu too: every one is still there
	}
	s.mu.Unlock()
	return err
}

// Usage is what the recordings hold, on the card and the recording disk.
type Usage struct {
	Bytes      int64 // every segment
	EventBytes int64 // segments holding an event
}

// Usage sums the index's segment sizes (no file is read).
func (s *Store) Usage() Usage {
	var u Usage
	if d := s.disk.Load(); d != nil {
		u = d.Usage()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.cams {
		for _, e := range c.segs {
			u.Bytes += int64(e.size)
			if c.marked[e.start] {
				u.EventBytes += int64(e.size)
			}
		}
	}
	return u
}
