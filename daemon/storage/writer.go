package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrSegmentOpen is returned by Create while the camera's previous segment
// is still open.
var ErrSegmentOpen = errors.New("storage: camera already has an open segment")

// SegmentWriter appends fragments to one segment file. It is used by one
// goroutine (the camera's recorder); the store reads its progress.
type SegmentWriter struct {
	s      *Store
	c      *camera
	start  int64
	path   string
	f      File
	size   atomic.Int64 // bytes written and kept
	synced int64
	end    int64
	closed bool
	// preallocated: blocks past the end were reserved (given back at Close)
	preallocated bool
	// flags: the clock's trust over the segment so far; steps: the clock's
	// step count at the open.
	flags TimeFlags
	steps uint64
	one   [1][]byte // Append's single part, without an allocation
}

// Create starts a new segment for camera at start (rounded to the
// millisecond and moved past the camera's previous segment if needed; read
// the result back with Start) whose file begins with init (ftyp+moov).
// Order: the index record naming the file is made durable first, then the
// file is created, written, fsynced, and its directory fsynced.
//
// With a recording disk attached (AttachDisk), the segment is created on it;
// if the disk fails meanwhile, on the card.
func (s *Store) Create(cameraName string, start time.Time, init []byte) (*SegmentWriter, error) {
	if w, ok, err := s.createOnDisk(cameraName, start, init); ok {
		return w, err
	}
	if s.lost.Load() {
		return nil, ErrDiskLost
	}
	c, err := s.camera(cameraName)
	if err != nil {
		return nil, s.diskFailure(err)
	}
	st := max(unixNano(start), 0) / int64(time.Millisecond) * int64(time.Millisecond)
	s.mu.Lock()
	if c.open != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrSegmentOpen, cameraName)
	}
	if n := len(c.segs); n > 0 && c.segs[n-1].start >= st {
		st = c.segs[n-1].start + int64(time.Millisecond)
	}
	needDay := dayDir(st) != c.lastDay
	s.mu.Unlock()

	if needDay {
		if err := s.mkdir(filepath.Join(c.dir, dayDir(st))); err != nil {
			return nil, s.diskFailure(err)
		}
		s.mu.Lock()
		c.lastDay = dayDir(st)
		s.mu.Unlock()
	}
	w := &SegmentWriter{s: s, c: c, start: st, end: st}
	w.flags, w.steps = s.timeFlags()
	w.path = filepath.Join(s.dir, filepath.FromSlash(segmentFile(c.name, st)))

	err = s.retryOnFull(1<<20, func() error {
		c.jmu.Lock()
		defer c.jmu.Unlock()
		if err := s.appendRecords(c, true, record{kind: recOpen, flags: w.flags, start: st}); err != nil {
			return err
		}
		// Inserted under jmu, so that a compaction sees record and entry together.
		e := entry{start: st}
		e.addFlags(w.flags)
		s.mu.Lock()
		c.segs = insertSorted(c.segs, e)
		c.open = w
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: create segment %s: %w", w.path, s.diskFailure(err))
	}

	err = s.retryOnFull(int64(len(init))+1<<20, func() error {
		f, err := s.fs.OpenFile(w.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		w.f = f
		if _, err := f.Write(init); err != nil {
			f.Close()
			s.fs.Remove(w.path)
			return err
		}
		return nil
	})
	if err == nil {
		s.stats.video.Add(int64(len(init)))
		s.stats.fsyncs.Add(1)
		if err = w.f.Sync(); err == nil {
			s.stats.dsyncs.Add(1)
			err = s.fs.SyncDir(filepath.Dir(w.path))
		}
	}
	if err != nil {
		s.stats.werr.Add(1)
		if w.f != nil {
			w.f.Close()
		}
		s.fs.Remove(w.path)
		c.jmu.Lock()
		s.appendRecords(c, false, record{kind: recDelete, start: st})
		s.mu.Lock()
		c.segs = removeEntry(c.segs, st)
		c.open = nil
		s.mu.Unlock()
		c.jmu.Unlock()
		return nil, fmt.Errorf("storage: create segment %s: %w", w.path, s.diskFailure(err))
	}
	w.size.Store(int64(len(init)))
	w.synced = int64(len(init))
	w.prealloc(s.expectedSize(c))
	s.setEntry(c, st, st, int64(len(init)), w.flags)
	return w, nil
}

// Start is the segment's start time as recorded in the index.
func (w *SegmentWriter) Start() time.Time { return time.Unix(0, w.start).UTC() }

// Path is the segment file's path.
func (w *SegmentWriter) Path() string { return w.path }

// Size is the number of bytes in the file.
func (w *SegmentWriter) Size() int64 { return w.size.Load() }

// Append writes one or more complete fragments (moof+mdat) in one write and
// records end as the segment's end time in memory. A failed write is cut
// back off the file so that it stays playable; on ENOSPC the store deletes
// the oldest recordings and the write is retried once.
func (w *SegmentWriter) Append(p []byte, end time.Time) error {
	w.one[0] = p
	err := w.AppendParts(w.one[:], end)
	w.one[0] = nil
	return err
}

// AppendParts is Append of the concatenation of parts (a fragment's moof and
// mdat header, then its sample bytes), written with one vectored write
// (writev) so that the fragment is never copied into one buffer.
func (w *SegmentWriter) AppendParts(parts [][]byte, end time.Time) error {
	if w.closed {
		return errors.New("storage: append to closed segment")
	}
	if w.s.lost.Load() {
		return fmt.Errorf("storage: write %s: %w", w.path, ErrDiskLost)
	}
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	if w.size.Load()+int64(size) > MaxSegmentBytes {
		return fmt.Errorf("storage: segment %s would exceed %d bytes", w.path, int64(MaxSegmentBytes))
	}
	err := w.s.retryOnFull(2*int64(size)+64<<10, func() error {
		n, err := WriteParts(w.f, parts)
		if err != nil && n > 0 {
			if terr := w.f.Truncate(w.size.Load()); terr != nil {
				return fmt.Errorf("%w (and cutting the torn write off failed: %v)", err, terr)
			}
		}
		return err
	})
	if err != nil {
		w.s.stats.werr.Add(1)
		return fmt.Errorf("storage: write %s: %w", w.path, w.s.diskFailure(err))
	}
	w.s.stats.video.Add(int64(size))
	if w.s.budget.Add(-int64(size)) < 0 {
		if _, err := w.s.enforce(0); err != nil {
			w.s.opts.Logf("storage: retention: %v", err)
		}
	}
	total := w.size.Add(int64(size))
	w.end = max(w.end, end.UnixNano())
	w.updateFlags()
	w.s.setEntry(w.c, w.start, w.end, total, w.flags)
	return nil
}

// Sync makes everything appended so far durable.
func (w *SegmentWriter) Sync() error {
	if w.closed || w.synced == w.size.Load() {
		return nil
	}
	if w.s.lost.Load() {
		return fmt.Errorf("storage: fsync %s: %w", w.path, ErrDiskLost)
	}
	w.s.stats.fsyncs.Add(1)
	if err := w.f.Sync(); err != nil {
		w.s.stats.werr.Add(1)
		return fmt.Errorf("storage: fsync %s: %w", w.path, w.s.diskFailure(err))
	}
	w.synced = w.size.Load()
	return nil
}

// Unsynced is the number of bytes appended but not yet fsynced.
func (w *SegmentWriter) Unsynced() int64 { return w.size.Load() - w.synced }

// Close fsyncs the file, then records the segment's end and size in the
// index. end is the time just after its last sample.
func (w *SegmentWriter) Close(end time.Time) error {
	if w.closed {
		return nil
	}
	if w.preallocated && !w.s.lost.Load() {
		// Give back reserved blocks past the end before the final fsync.
		if terr := w.f.Truncate(w.size.Load()); terr != nil {
			w.s.opts.Logf("storage: release preallocation of %s: %v", w.path, terr)
		}
		w.synced = -1 // force the fsync below
	}
	err := w.Sync()
	w.closed = true
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("storage: close %s: %w", w.path, cerr)
	}
	w.end = max(w.end, end.UnixNano())
	w.updateFlags()
	size := w.size.Load()
	c := w.c
	var jerr error
	if err == nil {
		// Only a fully synced file gets its close record; otherwise start-up
		// repair scans it like a segment cut by a power cut.
		jerr = w.s.retryOnFull(1<<20, func() error {
			c.jmu.Lock()
			defer c.jmu.Unlock()
			return w.s.appendRecords(c, true, record{kind: recClose, flags: w.flags, start: w.start, end: w.end, size: size})
		})
	}
	c.jmu.Lock()
	w.s.mu.Lock()
	if c.open == w {
		c.open = nil
	}
	w.s.mu.Unlock()
	c.jmu.Unlock()
	w.s.setEntry(c, w.start, w.end, size, w.flags)
	if err == nil && jerr != nil {
		err = fmt.Errorf("storage: close segment %s: %w", w.path, w.s.diskFailure(jerr))
	}
	return err
}

// updateFlags adds what the clock's state now says to the segment's flags.
func (w *SegmentWriter) updateFlags() {
	f, steps := w.s.timeFlags()
	if steps != w.steps {
		f |= ClockStepped
	}
	w.flags |= f
}

// Flags are the clock's trust over the segment so far.
func (w *SegmentWriter) Flags() TimeFlags { return w.flags }

func (s *Store) setEntry(c *camera, start, end, size int64, flags TimeFlags) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(c.segs)
	i := n - 1
	if i < 0 || c.segs[i].start != start {
		i = -1
		for j := range c.segs {
			if c.segs[j].start == start {
				i = j
				break
			}
		}
		if i < 0 {
			return // deleted meanwhile
		}
	}
	c.segs[i].setMS(durMS(start, end))
	c.segs[i].addFlags(flags)
	c.segs[i].size = uint32(min(size, MaxSegmentBytes))
}

// retryOnFull runs op; if it fails with ENOSPC, frees need bytes above the
// floor by deleting the oldest recordings and runs it once more.
func (s *Store) retryOnFull(need int64, op func() error) error {
	err := op()
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	s.opts.Logf("storage: disk full, deleting oldest recordings")
	if _, ferr := s.enforce(need); ferr != nil {
		s.opts.Logf("storage: freeing space: %v", ferr)
	}
	return op()
}

// appendRecords appends records to c's journal (c.jmu held), fsyncing it if
// sync. A failed append is cut back off so that the journal never holds
// garbage between records.
func (s *Store) appendRecords(c *camera, sync bool, recs ...record) error {
	if c.journal == nil {
		return errors.New("journal closed")
	}
	var buf [4 * recordSize]byte
	b := buf[:0]
	for _, r := range recs {
		b = r.append(b)
	}
	n, err := c.journal.Write(b)
	if err != nil {
		if n > 0 {
			c.journal.Truncate(c.jsize)
		}
		return fmt.Errorf("append to journal of %s: %w", c.name, err)
	}
	s.stats.index.Add(int64(n))
	c.jsize += int64(n)
	c.jrecords += len(recs)
	if sync {
		s.stats.isyncs.Add(1)
		if err := c.journal.Sync(); err != nil {
			return fmt.Errorf("fsync journal of %s: %w", c.name, err)
		}
	}
	return nil
}

// prealloc reserves the blocks a segment will likely need (beyond its end,
// the file size does not change), so that the file system allocates them
// once instead of at every fsync: fewer metadata blocks journaled per fsync.
// Unused blocks are given back at Close. Best effort.
func (w *SegmentWriter) prealloc(n int64) {
	fd, ok := w.f.(interface{ Fd() uintptr })
	if !ok || n <= 0 {
		return
	}
	if err := unix.Fallocate(int(fd.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, n); err == nil {
		w.preallocated = true
	}
}

// expectedSize guesses a new segment's size from the camera's last one.
func (s *Store) expectedSize(c *camera) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := len(c.segs) - 1; i >= 0; i-- {
		if e := c.segs[i]; e.size > 0 && (c.open == nil || c.open.start != e.start) {
			return min(int64(e.size)+int64(e.size)/8, 256<<20)
		}
	}
	return 0
}
