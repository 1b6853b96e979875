package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// maxDeletesPerPass bounds one retention pass; the next pass goes on.
const maxDeletesPerPass = 2000

func (s *Store) retentionLoop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.RetentionInterval)
	defer t.Stop()
	for {
		if _, err := s.enforce(0); err != nil {
			s.opts.Logf("storage: retention: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// RunRetention runs one retention pass now and returns how many segments
// it deleted.
func (s *Store) RunRetention() (int, error) { return s.enforce(0) }

// Floor is the free-space floor in bytes for a file system of total bytes.
func (s *Store) Floor(total int64) int64 {
	return max(s.opts.MinFreeBytes, int64(float64(total)*s.opts.MinFreePercent/100))
}

type victim struct {
	c      *camera
	e      entry
	reason string
}

type segKey struct {
	c     *camera
	start int64
}

// enforce deletes segments past their camera's retention age (Retention),
// then, until the free space is at least the floor plus need bytes, the
// oldest segments across all cameras: first those without an event, then
// those with one. The segment being recorded is never deleted.
func (s *Store) enforce(need int64) (int, error) {
	s.retMu.Lock()
	defer s.retMu.Unlock()
	var victims []victim
	taken := map[segKey]bool{}
	now := s.opts.Now()

	s.mu.RLock()
	for _, c := range s.cams {
		r := s.retentionOf(c.name)
		if r.Days <= 0 {
			continue
		}
		for _, e := range c.segs {
			if !r.expired(e.end(), false, now) || len(victims) >= maxDeletesPerPass || c.open != nil && c.open.start == e.start {
				break
			}
			if r.expired(e.end(), c.marked[e.start], now) {
				victims = append(victims, victim{c, e, "age"})
				taken[segKey{c, e.start}] = true
			}
		}
	}
	s.mu.RUnlock()

	avail, total, err := s.fs.Statfs(s.dir)
	if err != nil {
		return 0, fmt.Errorf("statfs %s: %w", s.dir, err)
	}
	floor := s.Floor(total)
	for _, v := range victims {
		avail += blocks(int64(v.e.size))
	}
	if avail < floor+need {
		// Free a little more than asked, so that the next pass is not due
		// after the very next fragment.
		target := floor + need + min(64<<20, total/50)
		s.mu.RLock()
		for phase, reason := range []string{"space", "space, event video"} {
			pos := map[*camera]int{} // each camera's first candidate
			for avail < target && len(victims) < maxDeletesPerPass {
				var bc *camera
				var be entry
				for _, c := range s.cams {
					k := pos[c]
					for ; k < len(c.segs); k++ {
						e := c.segs[k]
						if !taken[segKey{c, e.start}] && !(phase == 0 && c.marked[e.start]) && (c.open == nil || c.open.start != e.start) {
							break
						}
					}
					pos[c] = k
					if k < len(c.segs) && (bc == nil || c.segs[k].start < be.start) {
						bc, be = c, c.segs[k]
					}
				}
				if bc == nil {
					break
				}
				pos[bc]++
				taken[segKey{bc, be.start}] = true
				victims = append(victims, victim{bc, be, reason})
				avail += blocks(int64(be.size))
			}
		}
		s.mu.RUnlock()
	}
	s.budget.Store(avail - floor)
	low := avail < floor+need
	if low != s.diskLow {
		s.diskLow = low
		if low {
			s.opts.Logf("storage: free space %d bytes below the floor of %d bytes with nothing left to delete", avail, floor)
			s.opts.Events.Publish(events.Event{Type: events.DiskLow, Start: s.opts.Now(),
				Text: fmt.Sprintf("Ổ đĩa sắp đầy: còn %d MB / Disk low: %d MB free, floor %d MB", avail>>20, avail>>20, floor>>20)})
		}
	}
	if len(victims) == 0 {
		return 0, nil
	}
	return s.deleteSegments(victims)
}

func blocks(n int64) int64 { return (n + 4095) &^ 4095 }

// deleteSegments records the deletes in each camera's journal (fsynced),
// drops them from the index, then unlinks the files.
func (s *Store) deleteSegments(victims []victim) (int, error) {
	byCam := map[*camera][]victim{}
	for _, v := range victims {
		byCam[v.c] = append(byCam[v.c], v)
	}
	deleted := 0
	var firstErr error
	for c, vs := range byCam {
		recs := make([]record, len(vs))
		for i, v := range vs {
			recs[i] = record{kind: recDelete, start: v.e.start}
		}
		c.jmu.Lock()
		err := s.appendRecords(c, true, recs...)
		if errors.Is(err, syscall.ENOSPC) && s.releaseReserve() {
			// The disk is so full that even the delete records do not fit:
			// give back the reserve and try again.
			err = s.appendRecords(c, true, recs...)
		}
		err = s.diskFailure(err)
		if err == nil {
			s.mu.Lock()
			for _, v := range vs {
				c.segs = removeEntry(c.segs, v.e.start)
				delete(c.marked, v.e.start)
			}
			s.mu.Unlock()
		}
		c.jmu.Unlock()
		if err != nil {
			s.opts.Events.Publish(events.Event{Type: events.DiskError, Camera: c.name, Start: s.opts.Now(),
				Text: fmt.Sprintf("Lỗi ghi chỉ mục / index write error: %v", err)})
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		days := map[string]bool{}
		for _, v := range vs {
			p := filepath.Join(s.dir, filepath.FromSlash(segmentFile(c.name, v.e.start)))
			if err := s.fs.Remove(p); err != nil {
				s.opts.Logf("storage: remove %s: %v", p, err)
			}
			days[dayDir(v.e.start)] = true
			deleted++
		}
		// The event says what went: from the oldest deleted to the end of
		// the newest, but never past what is left (event video older than
		// deleted video may stay; the events before End go with the video).
		from, to := vs[0].e.start, vs[0].e.end()
		for _, v := range vs {
			from, to = min(from, v.e.start), max(to, v.e.end())
		}
		s.mu.RLock()
		for _, e := range c.segs[:min(1, len(c.segs))] {
			delete(days, dayDir(e.start))
			to = min(to, e.start)
		}
		last := c.lastDay
		s.mu.RUnlock()
		for d := range days {
			if d != last {
				s.fs.Remove(filepath.Join(c.dir, d)) // only succeeds when empty
			}
		}
		first := vs[0]
		s.opts.Events.Publish(events.Event{Type: events.RetentionPurge, Camera: c.name,
			Start: time.Unix(0, from).UTC(), End: time.Unix(0, max(to, from)).UTC(),
			Text: fmt.Sprintf("Đã xoá %d đoạn ghi cũ (%s) / deleted %d old segments (%s)", len(vs), first.reason, len(vs), first.reason)})
		s.opts.Logf("storage: %s: deleted %d segments (%s), oldest %s", c.name, len(vs), first.reason, time.Unix(0, from).UTC().Format(time.RFC3339))
		if needsCompaction(c) {
			if err := s.compact(c); err != nil {
				s.opts.Logf("storage: %v", err)
			}
		}
	}
	s.stats.deleted.Add(int64(deleted))
	if deleted > 0 {
		s.makeReserve()
	}
	return deleted, firstErr
}

// reserveSize is kept in DIR/recordings/.reserve so that, on a disk full to
// the last block, the journal records that mark deletes can still be
// written: the reserve is removed first, and made again after the deletes.
const reserveSize = 256 << 10

func (s *Store) reservePath() string { return filepath.Join(s.dir, ".reserve") }

// makeReserve creates the reserve file if it is missing (best effort).
func (s *Store) makeReserve() {
	if s.reserveOK.Load() {
		return
	}
	p := s.reservePath()
	f, err := s.fs.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	_, err = f.Write(make([]byte, reserveSize))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		s.fs.Remove(p)
		return
	}
	s.reserveOK.Store(true)
}

// releaseReserve removes the reserve file; false if there was none.
func (s *Store) releaseReserve() bool {
	if !s.reserveOK.Swap(false) {
		return false
	}
	s.opts.Logf("storage: disk full to the last block: using the reserve")
	return s.fs.Remove(s.reservePath()) == nil
}
