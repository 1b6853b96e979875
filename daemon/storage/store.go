// Package storage keeps a camera's recordings on disk: fragmented MP4 segment
// files under DIR/recordings/<camera>/<YYYY-MM-DD>/, a crash-safe segment
// index (one append-only checksummed journal per camera, loaded into sorted
// in-memory slices), start-up repair after a crash or power cut, retention
// by age and by a free-space floor, and export of a time range as one MP4.
//
// Write order, like a careful database: an index record is made durable
// before the file it names is created; segment data is fsynced before the
// record that closes it; a delete is recorded before the file is unlinked.
// See DESIGN.md for the guarantees in numbers.
package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// Options configure a Store. The zero value keeps recordings forever and
// keeps 5 % of the disk free.
type Options struct {
	// RetentionDays deletes segments that ended more than this many days
	// ago; 0 keeps them until space runs low.
	RetentionDays int
	// MinFreeBytes and MinFreePercent are the free-space floor; the larger
	// of the two applies. Both zero means 5 %.
	MinFreeBytes   int64
	MinFreePercent float64
	// RetentionInterval is how often the background loop checks; default 10 s.
	RetentionInterval time.Duration
	// Events receives disk_low, disk_error and retention_delete events.
	Events events.Publisher
	// Logf logs; nil discards.
	Logf func(format string, args ...any)
	// FS is the file system; nil means OS.
	FS FS
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DiskLost, if set, is called (once per loss) when the attached
	// recording disk fails or is detached; see AttachDisk.
	DiskLost func(reason error)
	// TimeState, if set, says whether the box's clock is synchronised
	// and how many times it has been stepped (daemon/timesync); segments
	// recorded while it is not, or open across a step, are marked
	// (TimeFlags). Nil: the clock is trusted.
	TimeState func() (synced bool, steps uint64)
}

// TimeFlags say how far a segment's times can be trusted.
type TimeFlags uint8

const (
	// ClockUnsynced: part of the segment was recorded while the box's
	// clock was not synchronised (restored from disk, the build date, set
	// by an officer, or still slewing in from ahead).
	ClockUnsynced TimeFlags = 1 << iota
	// ClockStepped: the box's clock was stepped (forward) while the
	// segment was open: times before the step are off by it.
	ClockStepped

	timeFlagsMask = ClockUnsynced | ClockStepped
)

// timeFlags is the clock's state now: flags, and the step count.
func (s *Store) timeFlags() (TimeFlags, uint64) {
	if s.opts.TimeState == nil {
		return 0, 0
	}
	synced, steps := s.opts.TimeState()
	if !synced {
		return ClockUnsynced, steps
	}
	return 0, steps
}

// Segment is one segment file of one camera.
type Segment struct {
	Camera     string
	Start, End time.Time
	Bytes      int64
	// File is the path relative to DIR/recordings: camera/YYYY-MM-DD/NAME.mp4.
	File string
	// Recording is true while a recorder is still appending to it.
	Recording bool
	// ClockUnsynced and ClockStepped: see TimeFlags.
	ClockUnsynced, ClockStepped bool

	dir string // DIR/recordings holding the file (the card's or a recording disk's)
}

// Stats counts what the store wrote.
type Stats struct {
	// VideoBytes is what was written into segment files (init + fragments).
	VideoBytes int64
	// IndexBytes is what was written into journals (records and compactions).
	IndexBytes int64
	FileSyncs  int64
	IndexSyncs int64
	DirSyncs   int64
	// Deleted counts segments removed by retention.
	Deleted int64
	// WriteErrors counts failed writes (ENOSPC included).
	WriteErrors int64
}

// entry is one segment in memory: 16 bytes, so 2.8 M segments take 45 MB.
type entry struct {
	start int64  // Unix ns
	dur   uint32 // ms in the low 30 bits (12 days), TimeFlags in the top 2
	size  uint32 // bytes (segments are cut before 4 GiB)
}

const msMask = 1<<30 - 1

func (e entry) ms() uint32            { return e.dur & msMask }
func (e entry) flags() TimeFlags      { return TimeFlags(e.dur >> 30) }
func (e *entry) setMS(ms uint32)      { e.dur = e.dur&^msMask | ms&msMask }
func (e *entry) addFlags(f TimeFlags) { e.dur |= uint32(f&timeFlagsMask) << 30 }
func (e entry) end() int64            { return e.start + int64(e.ms())*int64(time.Millisecond) }

// MaxSegmentBytes is the largest segment the index can hold.
const MaxSegmentBytes = 1<<32 - 1

type camera struct {
	name string
	dir  string

	// Guarded by Store.mu.
	segs    []entry // sorted by start
	open    *SegmentWriter
	lastDay string // newest day directory known to exist

	jmu      sync.Mutex // serializes journal appends and compaction
	journal  File
	jsize    int64
	jrecords int // records in the journal file (header excluded)
}

// Store is the set of recordings under one data directory.
type Store struct {
	dir  string // DIR/recordings
	opts Options
	fs   FS

	mu   sync.RWMutex
	cams map[string]*camera

	retMu   sync.Mutex // one retention pass at a time
	diskLow bool
	// budget is the bytes that may still be written before the free-space
	// floor is reached, as of the last retention pass; writers count it
	// down and run a pass when it is spent.
	budget atomic.Int64
	// reserveOK: the reserve file (see reserveSize) is in place.
	reserveOK atomic.Bool

	stats struct {
		video, index, fsyncs, isyncs, dsyncs, deleted, werr atomic.Int64
	}

	// disk is the recording disk's store, where new segments go (on the
	// card's store only); parent is the card's store (on a recording
	// disk's); lost is set when the recording disk failed (disk.go).
	disk   atomic.Pointer[Store]
	parent atomic.Pointer[Store]
	lost   atomic.Bool

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Open opens (creating if needed) the store under dataDir, repairs what a
// crash left (see DESIGN.md) and starts the retention loop, which runs until
// ctx is done or Close is called.
func Open(ctx context.Context, dataDir string, opts Options) (*Store, error) {
	if opts.FS == nil {
		opts.FS = OS
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Events == nil {
		opts.Events = events.Discard
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.RetentionInterval <= 0 {
		opts.RetentionInterval = 10 * time.Second
	}
	if opts.MinFreeBytes == 0 && opts.MinFreePercent == 0 {
		opts.MinFreePercent = 5
	}
	s := &Store{
		dir:  filepath.Join(dataDir, "recordings"),
		opts: opts,
		fs:   opts.FS,
		cams: map[string]*camera{},
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	if err := s.mkdir(dataDir); err != nil {
		return nil, err
	}
	if err := s.mkdir(s.dir); err != nil {
		return nil, err
	}
	ents, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("storage: list %s: %w", s.dir, err)
	}
	// Cameras load in parallel: the journals are independent.
	names := make(chan string)
	errs := make(chan error, len(ents))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for name := range names {
				if _, err := s.loadCamera(name); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, e := range ents {
		if e.IsDir() && validCamera(e.Name()) == nil {
			names <- e.Name()
		}
	}
	close(names)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		s.closeJournals()
		return nil, err
	}
	s.makeReserve()
	rctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go s.retentionLoop(rctx)
	return s, nil
}

// Close stops the retention loop and closes the journals, and the attached
// recording disk's store. Open segment writers should be closed first.
func (s *Store) Close() error {
	if d := s.disk.Swap(nil); d != nil {
		d.Close()
	}
	s.cancel()
	<-s.done
	s.closeJournals()
	return nil
}

// closeJournals closes every camera's journal. Locks in the writers' order
// (a camera's jmu before s.mu, never the other way round): a recording
// disk's store is closed while its recorders still close their segments.
func (s *Store) closeJournals() {
	s.mu.RLock()
	cams := make([]*camera, 0, len(s.cams))
	for _, c := range s.cams {
		cams = append(cams, c)
	}
	s.mu.RUnlock()
	for _, c := range cams {
		c.jmu.Lock()
		if c.journal != nil {
			c.journal.Close()
			c.journal = nil
		}
		c.jmu.Unlock()
	}
}

// Dir is DIR/recordings.
func (s *Store) Dir() string { return s.dir }

// Stats returns what the store wrote so far, onto the card and onto the
// recording disks it recorded to.
func (s *Store) Stats() Stats {
	st := s.ownStats()
	if d := s.disk.Load(); d != nil {
		ds := d.ownStats()
		st.VideoBytes += ds.VideoBytes
		st.IndexBytes += ds.IndexBytes
		st.FileSyncs += ds.FileSyncs
		st.IndexSyncs += ds.IndexSyncs
		st.DirSyncs += ds.DirSyncs
		st.Deleted += ds.Deleted
		st.WriteErrors += ds.WriteErrors
	}
	return st
}

func (s *Store) ownStats() Stats {
	return Stats{
		VideoBytes:  s.stats.video.Load(),
		IndexBytes:  s.stats.index.Load(),
		FileSyncs:   s.stats.fsyncs.Load(),
		IndexSyncs:  s.stats.isyncs.Load(),
		DirSyncs:    s.stats.dsyncs.Load(),
		Deleted:     s.stats.deleted.Load(),
		WriteErrors: s.stats.werr.Load(),
	}
}

// Cameras lists the cameras that have a recordings folder (on the card or
// the recording disk), sorted.
func (s *Store) Cameras() []string {
	var names []string
	if d := s.disk.Load(); d != nil {
		names = d.Cameras()
	}
	s.mu.RLock()
	for n := range s.cams {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	s.mu.RUnlock()
	sort.Strings(names)
	return names
}

// Segments returns camera's segments that overlap [from, to), oldest first,
// on the card and on the recording disk. A zero to means no upper bound.
func (s *Store) Segments(camera string, from, to time.Time) []Segment {
	var onDisk []Segment
	if d := s.disk.Load(); d != nil {
		onDisk = d.Segments(camera, from, to)
	}
	return mergeSegments(s.localSegments(camera, from, to), onDisk)
}

func (s *Store) localSegments(camera string, from, to time.Time) []Segment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.cams[camera]
	if c == nil {
		return nil
	}
	f := unixNano(from)
	t := int64(math.MaxInt64)
	if !to.IsZero() {
		t = unixNano(to)
	}
	// First segment starting at or after from; the one before may overlap.
	i := sort.Search(len(c.segs), func(i int) bool { return c.segs[i].start >= f })
	if i > 0 && c.segs[i-1].end() > f {
		i--
	}
	var out []Segment
	for ; i < len(c.segs) && c.segs[i].start < t; i++ {
		e := c.segs[i]
		if e.end() <= f && !(e.ms() == 0 && e.start >= f) {
			continue
		}
		out = append(out, s.segment(c, e))
	}
	return out
}

// Oldest returns the oldest segment of any camera (ok false if none), on
// the card or the recording disk.
func (s *Store) Oldest() (Segment, bool) {
	s.mu.RLock()
	c, e, ok := s.oldestLocked()
	var seg Segment
	if ok {
		seg = s.segment(c, e)
	}
	s.mu.RUnlock()
	if d := s.disk.Load(); d != nil {
		if dseg, dok := d.Oldest(); dok && (!ok || dseg.Start.Before(seg.Start)) {
			return dseg, true
		}
	}
	return seg, ok
}

// unixNano is t in Unix nanoseconds, clamped to what an int64 holds (the
// zero Time is far before).
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func (s *Store) segment(c *camera, e entry) Segment {
	seg := Segment{
		Camera: c.name,
		Start:  time.Unix(0, e.start).UTC(),
		End:    time.Unix(0, e.end()).UTC(),
		Bytes:  int64(e.size),
		File:   segmentFile(c.name, e.start),
		dir:    s.dir,

		ClockUnsynced: e.flags()&ClockUnsynced != 0,
		ClockStepped:  e.flags()&ClockStepped != 0,
	}
	if c.open != nil && c.open.start == e.start {
		seg.Recording = true
		seg.Bytes = c.open.size.Load()
	}
	return seg
}

// Path is the absolute path of seg's file (on the card or the recording
// disk, whichever holds it).
func (s *Store) Path(seg Segment) string {
	dir := seg.dir
	if dir == "" {
		dir = s.dir
	}
	return filepath.Join(dir, filepath.FromSlash(seg.File))
}

// open opens seg's file for reading on the file system that holds it.
func (s *Store) open(seg Segment) (File, error) {
	fs := s.fs
	if d := s.disk.Load(); d != nil && seg.dir == d.dir {
		fs = d.fs
	}
	return fs.OpenFile(s.Path(seg), os.O_RDONLY, 0)
}

// segmentFile names a segment by its start time (UTC):
// camera/2026-11-26/20261126T232548.123Z.mp4.
func segmentFile(cam string, start int64) string {
	t := time.Unix(0, start).UTC()
	return cam + "/" + t.Format("2006-01-02") + "/" + t.Format("20060102T150405.000Z") + ".mp4"
}

func dayDir(start int64) string { return time.Unix(0, start).UTC().Format("2006-01-02") }

// parseSegmentName reads the start time back from a file name.
func parseSegmentName(name string) (int64, bool) {
	base, ok := strings.CutSuffix(name, ".mp4")
	if !ok {
		return 0, false
	}
	t, err := time.Parse("20060102T150405.000Z", base)
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}

var errBadCamera = errors.New("storage: invalid camera name")

func validCamera(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%w %q", errBadCamera, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w %q: use letters, digits, - _ .", errBadCamera, name)
		}
	}
	return nil
}

func (s *Store) mkdir(path string) error {
	err := s.fs.Mkdir(path, 0o755)
	if err == nil {
		s.stats.dsyncs.Add(1)
		if err := s.fs.SyncDir(filepath.Dir(path)); err != nil {
			return fmt.Errorf("storage: sync dir %s: %w", filepath.Dir(path), err)
		}
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	return fmt.Errorf("storage: mkdir %s: %w", path, err)
}

// oldestLocked finds the oldest segment that is not being recorded.
func (s *Store) oldestLocked() (*camera, entry, bool) {
	var bc *camera
	var be entry
	for _, c := range s.cams {
		for _, e := range c.segs {
			if c.open != nil && c.open.start == e.start {
				continue
			}
			if bc == nil || e.start < be.start {
				bc, be = c, e
			}
			break
		}
	}
	return bc, be, bc != nil
}

func (s *Store) camera(name string) (*camera, error) {
	s.mu.RLock()
	c := s.cams[name]
	s.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	if err := validCamera(name); err != nil {
		return nil, err
	}
	if err := s.mkdir(filepath.Join(s.dir, name)); err != nil {
		return nil, err
	}
	return s.loadCamera(name)
}

func insertSorted(segs []entry, e entry) []entry {
	i, _ := slices.BinarySearchFunc(segs, e.start, cmpStart)
	return slices.Insert(segs, i, e)
}

func removeEntry(segs []entry, start int64) []entry {
	for i, e := range segs {
		if e.start == start {
			if i == 0 {
				return segs[1:]
			}
			return slices.Delete(segs, i, i+1)
		}
	}
	return segs
}

func durMS(start, end int64) uint32 {
	d := (end - start) / int64(time.Millisecond)
	return uint32(max(0, min(d, msMask)))
}
