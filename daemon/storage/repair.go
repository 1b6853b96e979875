package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/matthan/matthan/daemon/fmp4"
)

const (
	journalName = "journal"
	// recentDeletes is how many trailing journal records start-up looks at
	// for deletes whose unlink a crash may have interrupted.
	recentDeletes = 1024
)

// compactSlack: a journal is compacted when it holds more than a quarter
// more records than live segments plus this many. A variable for tests.
var compactSlack = 2 * recentDeletes

func needsCompaction(c *camera) bool {
	return c.jrecords > len(c.segs)+len(c.segs)/4+compactSlack
}

// loadCamera reads a camera's journal into memory and repairs what a crash
// left: open segments are scanned and cut back to their last complete
// fragment (or removed when nothing in them plays), interrupted deletes are
// finished, files in the newest day folders without an index row are
// removed. It lists only those newest folders, never every file.
func (s *Store) loadCamera(name string) (*camera, error) {
	c := &camera{name: name, dir: filepath.Join(s.dir, name)}
	jpath := filepath.Join(c.dir, journalName)
	j, err := s.fs.OpenFile(jpath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open journal %s: %w", jpath, err)
	}
	c.journal = j
	fail := func(err error) (*camera, error) {
		j.Close()
		return nil, err
	}
	fi, err := j.Stat()
	if err != nil {
		return fail(fmt.Errorf("storage: stat %s: %w", jpath, err))
	}
	buf := make([]byte, fi.Size())
	if _, err := j.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("storage: read %s: %w", jpath, err))
	}
	recs, valid, corrupt, err := parseJournal(buf)
	buf = nil
	rebuild := false
	if err != nil {
		// Not our journal (or its header rotted): keep it aside and rebuild
		// the index from the files themselves.
		s.opts.Logf("storage: %s: %v; rebuilding the index from the files", jpath, err)
		j.Close()
		if err := s.fs.Rename(jpath, jpath+".bad"); err != nil {
			return nil, fmt.Errorf("storage: set aside %s: %w", jpath, err)
		}
		if j, err = s.fs.OpenFile(jpath, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("storage: create journal %s: %w", jpath, err)
		}
		c.journal = j
		recs, valid, rebuild = nil, 0, true
	}
	if corrupt > 0 {
		s.opts.Logf("storage: %s: skipped %d corrupt records", jpath, corrupt)
	}
	if valid == 0 {
		if err := j.Truncate(0); err != nil {
			return fail(fmt.Errorf("storage: reset %s: %w", jpath, err))
		}
		if _, err := j.Write([]byte(journalMagic)); err != nil {
			return fail(fmt.Errorf("storage: write %s: %w", jpath, err))
		}
		s.stats.index.Add(recordSize)
		valid = recordSize
		if err := j.Sync(); err != nil {
			return fail(fmt.Errorf("storage: fsync %s: %w", jpath, err))
		}
		if err := s.fs.SyncDir(c.dir); err != nil {
			return fail(fmt.Errorf("storage: fsync %s: %w", c.dir, err))
		}
	} else if int64(valid) != fi.Size() {
		s.opts.Logf("storage: %s: cutting a torn tail of %d bytes", jpath, fi.Size()-int64(valid))
		if err := j.Truncate(int64(valid)); err != nil {
			return fail(fmt.Errorf("storage: truncate %s: %w", jpath, err))
		}
	}
	c.jsize = int64(valid)
	c.jrecords = len(recs)

	segs, open, deleted := replay(recs)
	var fix []record

	// Finish interrupted deletes.
	for _, st := range deleted {
		p := filepath.Join(s.dir, filepath.FromSlash(segmentFile(name, st)))
		if err := s.fs.Remove(p); err == nil {
			s.opts.Logf("storage: finished interrupted delete of %s", p)
		}
	}
	// Repair segments that were never closed.
	for _, st := range open {
		r, keep := s.repairOpen(name, st)
		fix = append(fix, r)
		if keep {
			i, _ := slices.BinarySearchFunc(segs, st, cmpStart)
			segs[i].setMS(durMS(r.start, r.end))
			segs[i].size = uint32(min(r.size, MaxSegmentBytes))
			// The close record repair writes keeps what the open one said.
			fix[len(fix)-1].flags = segs[i].flags()
		} else {
			segs = removeEntry(segs, st)
		}
	}
	// Remove files in the newest day folders that the index does not know.
	strays, err := s.sweepStrays(c, segs, rebuild)
	if err != nil {
		return fail(err)
	}
	for _, st := range strays {
		if rebuild {
			r, keep := s.repairOpen(name, st)
			if keep {
				fix = append(fix, record{kind: recOpen, start: st}, r)
				e := entry{start: st, size: uint32(min(r.size, MaxSegmentBytes))}
				e.setMS(durMS(r.start, r.end))
				segs = insertSorted(segs, e)
			}
		}
	}
	if len(segs) > 0 {
		c.lastDay = dayDir(segs[len(segs)-1].start)
	}
	c.segs = segs
	if len(fix) > 0 {
		c.jmu.Lock()
		err := s.appendRecords(c, true, fix...)
		c.jmu.Unlock()
		if err != nil {
			return fail(fmt.Errorf("storage: record repairs of %s: %w", name, err))
		}
	}
	if needsCompaction(c) {
		if err := s.compact(c); err != nil {
			s.opts.Logf("storage: %v", err)
		}
	}
	s.mu.Lock()
	s.cams[name] = c
	s.mu.Unlock()
	return c, nil
}

func cmpStart(a entry, t int64) int {
	switch {
	case a.start < t:
		return -1
	case a.start > t:
		return 1
	}
	return 0
}

// replay applies journal records in order. It returns the live segments
// sorted by start, the starts of segments opened but never closed, and the
// starts of deletes among the last recentDeletes records.
func replay(recs []record) (segs []entry, open []int64, deleted []int64) {
	segs = make([]entry, 0, len(recs)+1)
	dead := make(map[int64]bool)
	openSet := make(map[int64]bool)
	find := func(st int64) int {
		if n := len(segs); n > 0 && segs[n-1].start == st {
			return n - 1
		}
		i, ok := slices.BinarySearchFunc(segs, st, cmpStart)
		if !ok {
			return -1
		}
		return i
	}
	for k, r := range recs {
		switch r.kind {
		case recOpen:
			e := entry{start: r.start}
			e.addFlags(r.flags)
			if i := find(r.start); i >= 0 {
				segs[i] = e
			} else if n := len(segs); n == 0 || segs[n-1].start < r.start {
				segs = append(segs, e)
			} else {
				segs = insertSorted(segs, e)
			}
			delete(dead, r.start)
			openSet[r.start] = true
		case recClose:
			var i int
			if n := len(segs); n == 0 || segs[n-1].start < r.start {
				segs = append(segs, entry{start: r.start}) // compacted journal: in order
				i = n
			} else if i = find(r.start); i < 0 {
				segs = insertSorted(segs, entry{start: r.start})
				i = find(r.start)
			}
			segs[i].setMS(durMS(r.start, r.end))
			segs[i].addFlags(r.flags)
			segs[i].size = uint32(min(r.size, MaxSegmentBytes))
			delete(dead, r.start)
			delete(openSet, r.start)
		case recDelete:
			dead[r.start] = true
			delete(openSet, r.start)
			if k >= len(recs)-recentDeletes {
				deleted = append(deleted, r.start)
			}
		}
	}
	if len(dead) > 0 {
		// Few deletes among many segments: find each, then sweep once.
		// Find them all before marking any: marking unsorts the slice.
		idx := make([]int, 0, len(dead))
		for st := range dead {
			if i, ok := slices.BinarySearchFunc(segs, st, cmpStart); ok {
				idx = append(idx, i)
			}
		}
		const gone = math.MinInt64
		for _, i := range idx {
			segs[i].start = gone
		}
		segs = slices.DeleteFunc(segs, func(e entry) bool { return e.start == gone })
	}
	// A name deleted and then used again (after the clock went back) is live.
	deleted = slices.DeleteFunc(deleted, func(st int64) bool { return !dead[st] })
	for st := range openSet {
		open = append(open, st)
	}
	slices.Sort(open)
	return segs, open, deleted
}

// repairOpen scans a segment that was never closed: it keeps the complete
// fragments, cuts the torn tail off, and returns the close record; or, when
// nothing in it plays, removes the file and returns a delete record.
func (s *Store) repairOpen(cam string, st int64) (record, bool) {
	p := filepath.Join(s.dir, filepath.FromSlash(segmentFile(cam, st)))
	del := record{kind: recDelete, start: st}
	f, err := s.fs.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.opts.Logf("storage: repair %s: %v", p, err)
		}
		return del, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.opts.Logf("storage: repair %s: %v", p, err)
		return del, false
	}
	l, err := fmp4.ScanSegment(f, fi.Size())
	if err != nil || len(l.Fragments) == 0 {
		s.opts.Logf("storage: repair %s: nothing playable (%v), removing", p, err)
		f.Close()
		s.fs.Remove(p)
		return del, false
	}
	// Always truncate: it also gives back blocks preallocated past the end.
	if err := f.Truncate(l.ValidSize); err != nil {
		s.opts.Logf("storage: repair %s: truncate: %v", p, err)
		return del, false
	}
	if l.ValidSize < fi.Size() {
		s.opts.Logf("storage: repair %s: keeping %d complete fragments, cutting %d torn bytes (%v)",
			p, len(l.Fragments), fi.Size()-l.ValidSize, l.TailErr)
	}
	if err := f.Sync(); err != nil {
		s.opts.Logf("storage: repair %s: fsync: %v", p, err)
		return del, false
	}
	last := l.Fragments[len(l.Fragments)-1]
	ticks := last.BaseTime + last.Duration
	end := st + int64(ticks*uint64(time.Second)/uint64(max(l.Init.Timescale, 1)))
	return record{kind: recClose, start: st, end: end, size: l.ValidSize}, true
}

// sweepStrays lists the camera's day folders from the newest indexed one on
// (all of them when rebuilding) and removes files the index does not know.
// When rebuilding it returns the segment files found instead of removing them.
func (s *Store) sweepStrays(c *camera, segs []entry, rebuild bool) ([]int64, error) {
	days, err := s.fs.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("storage: list %s: %w", c.dir, err)
	}
	from := ""
	if len(segs) > 0 && !rebuild {
		from = dayDir(segs[len(segs)-1].start)
	}
	var found []int64
	for _, d := range days {
		if !d.IsDir() || d.Name() < from {
			continue
		}
		if _, err := time.Parse("2006-01-02", d.Name()); err != nil {
			continue
		}
		dir := filepath.Join(c.dir, d.Name())
		files, err := s.fs.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("storage: list %s: %w", dir, err)
		}
		for _, f := range files {
			st, ok := parseSegmentName(f.Name())
			if ok {
				if _, known := slices.BinarySearchFunc(segs, st, cmpStart); known {
					continue
				}
				if rebuild {
					found = append(found, st)
					continue
				}
			}
			p := filepath.Join(dir, f.Name())
			s.opts.Logf("storage: removing %s: not in the index", p)
			if err := s.fs.Remove(p); err != nil {
				s.opts.Logf("storage: remove %s: %v", p, err)
			}
		}
	}
	slices.Sort(found)
	return found, nil
}

// compact rewrites c's journal as one record per live segment: write a
// temporary file, fsync it, rename it over the journal, fsync the folder.
func (s *Store) compact(c *camera) error {
	c.jmu.Lock()
	defer c.jmu.Unlock()
	s.mu.RLock()
	buf := make([]byte, 0, recordSize*(len(c.segs)+2))
	buf = append(buf, journalMagic...)
	n := 0
	for _, e := range c.segs {
		if c.open != nil && c.open.start == e.start {
			buf = record{kind: recOpen, flags: e.flags(), start: e.start}.append(buf)
		} else {
			buf = record{kind: recClose, flags: e.flags(), start: e.start, end: e.end(), size: int64(e.size)}.append(buf)
		}
		n++
	}
	s.mu.RUnlock()
	jpath := filepath.Join(c.dir, journalName)
	tmp := jpath + ".tmp"
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("compact %s: %w", jpath, err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		s.fs.Remove(tmp)
		return fmt.Errorf("compact %s: %w", jpath, err)
	}
	s.stats.index.Add(int64(len(buf)))
	s.stats.isyncs.Add(1)
	if err := f.Sync(); err != nil {
		f.Close()
		s.fs.Remove(tmp)
		return fmt.Errorf("compact %s: %w", jpath, err)
	}
	if err := s.fs.Rename(tmp, jpath); err != nil {
		f.Close()
		s.fs.Remove(tmp)
		return fmt.Errorf("compact %s: %w", jpath, err)
	}
	s.stats.dsyncs.Add(1)
	if err := s.fs.SyncDir(c.dir); err != nil {
		s.opts.Logf("storage: compact %s: fsync folder: %v", jpath, err)
	}
	c.journal.Close()
	c.journal = f
	c.jsize = int64(len(buf))
	c.jrecords = n
	return nil
}
