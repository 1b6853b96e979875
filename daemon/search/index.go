// Package search keeps every event of the box (motion, scene change, tamper,
// camera offline/online, disk, login, export, setting changed) and answers
// queries on them: free text, time range, camera and type filters, facets
// by camera and type, newest first, paged. Free text is folded (fold.go):
// words with or without Vietnamese diacritics, in any case, find the same
// events, and each event's type names are indexed with its text, so that
// a motion event is found while it is still going on. The index records the
// mapping it was made with; an older one is rebuilt from the event log.
//
// Index implements events.Publisher. Publish only queues; a background
// writer applies the queue in batches (when it reaches BatchSize or every
// FlushEvery). The truth is an append-only, checksummed event log beside
// the index directory (path+".log", see eventLog): an event is committed
// once the batch holding it is fsynced there, and a power cut or SIGKILL
// afterwards does not lose it. The bleve index (free text) and the
// in-memory timeline (filters, facets, paging) are derived from the log.
// Bleve stores, in the same batch as the documents, how far into the log it
// has indexed; at open it re-indexes the rest. Bleve's scorch does not
// fsync its directory after making segment files or index_meta.json, so
// after a power cut it may not open at all: it is then moved aside and
// rebuilt from the log (in the background when the log is long; queries
// without text are answered from the timeline meanwhile). A full disk
// never stops it and a bleve panic never leaves it (see Index), and the
// log has a disk budget (Options.MaxLogBytes) besides retention.
package search

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/positive"
)

// Options tune the writer. Zero values pick the defaults beside them.
type Options struct {
	BatchSize  int           // events per batch (default 1000)
	FlushEvery time.Duration // longest an event waits in the queue (default 1 s)
	MaxQueue   int           // events queued before new ones are dropped (default 100000)
	// MaxLogBytes is the event log's disk budget (default 256 MiB): past
	// it the oldest events are deleted (see trim). The log may pass it by
	// one batch until the writer trims it.
	MaxLogBytes int64
	// RepairEvery is how often a broken index is rebuilt (default 1 min).
	RepairEvery time.Duration
	Logf        func(format string, args ...any)
	// Hold, when set, returns the sequence number up to which events may
	// be deleted: retention and the size budget never delete an event
	// with a larger Seq (the district outbox has not had it
	// acknowledged). Events of versions before sequence numbers (Seq 0)
	// are never held.
	Hold func() uint64
	// KeepSeq: events keep the Seq they come with instead of getting
	// the log's own (the district's index of boxes' events).
	KeepSeq bool
}

// Index is the event index. Its methods are safe for concurrent use.
//
// A full disk or a bleve failure never stops it: events still go to the
// event log when it can write, queries without text are answered from the
// timeline, and a bleve index that panicked or could not be made is marked
// broken (text search then says it is unavailable) and rebuilt from the
// log every RepairEvery until that works.
type Index struct {
	idxMu sync.RWMutex
	idx   bleve.Index // nil while broken
	tl    *timeline
	log   *eventLog
	path  string
	opt   Options

	// bleveMu serialises writes to bleve and to the log file's identity;
	// marked is how far into the log bleve has indexed (logMark in
	// bleve), under bleveMu.
	bleveMu sync.Mutex
	marked  int64
	// nextSeq is the Seq the next committed event gets (under bleveMu);
	// outbox is where ReadAfter last stopped (under bleveMu).
	nextSeq uint64
	outbox  logPos
	// trimHeld is the Hold value (+1) at which the size budget last found
	// nothing it may delete (every old event held): it waits for the
	// hold to move instead of scanning the backlog again each second.
	trimHeld   atomic.Uint64
	rebuilding atomic.Bool // a background catch-up is running
	catchDone  chan struct{}

	mu      sync.Mutex
	pending []events.Event
	dropped int
	kick    chan struct{}
	// flushMu serialises batches, so Flush returns only after every event
	// published before it has been written.
	flushMu sync.Mutex

	stop chan struct{}
	done chan struct{}
	once sync.Once

	warnedFallback atomic.Bool // searchText said it fell back to bleve

	broken     atomic.Bool // bleve panicked or could not be made: rebuild it
	lastRepair time.Time   // under bleveMu
	bg         sync.WaitGroup

	// Repaired is set when Open found an index it could not open and moved
	// it aside to path+".broken-<unix time>" (it is rebuilt from the log).
	Repaired string
	// Rebuilt is set when Open found an index made with another mapping
	// (mappingVersion) and rebuilt it from the log.
	Rebuilt bool
}

// currentMapping reports whether idx was made with this version's mapping.
func currentMapping(idx bleve.Index) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	v, err := idx.GetInternal(mappingMark)
	return err == nil && string(v) == mappingVersion
}

// logMark is bleve's internal key holding the log generation and the
// offset up to which bleve has indexed the log.
var logMark = []byte("matthan.logmark")

func encodeMark(gen uint64, off int64) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, gen)
	binary.LittleEndian.PutUint64(b[8:], uint64(off))
	return b
}

// syncCatchUpBytes: a log tail longer than this is indexed in the
// background at open (about 20 000 events).
var syncCatchUpBytes int64 = 4 << 20

// fields of the indexed document.
const (
	fType      = "type"
	fCamera    = "camera"
	fHousehold = "household"
	fStart     = "start"
	fScore     = "score"
	fText      = "text"
	fStored    = "j" // the event as JSON, stored, not indexed
)

type doc struct {
	Type      string    `json:"type"`
	Camera    string    `json:"camera"`
	Household string    `json:"household"`
	Start     time.Time `json:"start"`
	Score     float64   `json:"score"`
	Text      string    `json:"text"`
	J         string    `json:"j"`
}

func newMapping() mapping.IndexMapping {
	// An indexed field is not stored and not in the catch-all field; it
	// keeps doc values only where results are sorted or faceted by it.
	indexed := func(f *mapping.FieldMapping, docValues bool) *mapping.FieldMapping {
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = docValues
		return f
	}
	kw := func(docValues bool) *mapping.FieldMapping {
		f := indexed(bleve.NewTextFieldMapping(), docValues)
		f.Analyzer = keyword.Name
		return f
	}
	dm := bleve.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt(fType, kw(true))
	dm.AddFieldMappingsAt(fCamera, kw(true))
	dm.AddFieldMappingsAt(fHousehold, kw(false))
	dm.AddFieldMappingsAt(fStart, indexed(bleve.NewDateTimeFieldMapping(), true))
	dm.AddFieldMappingsAt(fScore, indexed(bleve.NewNumericFieldMapping(), false))
	text := indexed(bleve.NewTextFieldMapping(), false)
	text.Analyzer = foldAnalyzer
	dm.AddFieldMappingsAt(fText, text)
	stored := bleve.NewTextFieldMapping()
	stored.Index = false
	stored.Store = true
	stored.IncludeInAll = false
	stored.DocValues = false
	dm.AddFieldMappingsAt(fStored, stored)

	im := bleve.NewIndexMapping()
	if err := addFoldAnalyzer(im); err != nil {
		panic(fmt.Sprintf("search: the folding analyzer: %v", err)) // a programming error, caught by every test
	}
	im.DefaultMapping = dm
	im.DefaultField = fText
	im.StoreDynamic = false
	im.IndexDynamic = false
	im.DocValuesDynamic = false
	return im
}

// Open opens the index at path, making it if it does not exist. An index
// that exists but cannot be opened is moved aside and replaced by a new one
// (see Index.Repaired). A disk that is full or refuses writes does not make
// it fail: the index then works without text search or without its log
// (events wait in the queue) until the disk takes writes again; the error
// is kept for callers of older versions and is always nil.
func Open(path string, opt Options) (*Index, error) {
	opt.BatchSize = positive.Or(opt.BatchSize, 1000)
	opt.FlushEvery = positive.Or(opt.FlushEvery, time.Second)
	opt.MaxQueue = positive.Or(opt.MaxQueue, 100000)
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	opt.MaxLogBytes = positive.Or(opt.MaxLogBytes, DefaultMaxLogBytes)
	opt.RepairEvery = positive.Or(opt.RepairEvery, time.Minute)
	x := &Index{path: path, opt: opt, tl: newTimeline(), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), catchDone: make(chan struct{})}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		opt.Logf("search: %v", err) // the log cannot be made either: see below
	}
	var batch []events.Event
	var offs []int64
	x.nextSeq = readSeqFloor(path+".log", opt.Logf)
	each := func(off int64, e events.Event) {
		x.nextSeq = max(x.nextSeq, e.Seq+1)
		batch = append(batch, e)
		offs = append(offs, off)
		if len(batch) == 4096 {
			x.tl.add(batch, offs)
			batch, offs = batch[:0], offs[:0]
		}
	}
	if err := recoverStray(path + ".log"); err != nil {
		// A full disk: the newest events stay in the stray files, for
		// the next start.
		opt.Logf("search: %v; going on with %s.log as it is", err, path)
	}
	l, err := openEventLog(path+".log", each)
	if errors.Is(err, errNotEventLog) {
		aside := fmt.Sprintf("%s.log.broken-%d", path, time.Now().Unix())
		opt.Logf("search: %v; moving it to %s and starting a new one", err, aside)
		if rerr := os.Rename(path+".log", aside); rerr != nil {
			err = fmt.Errorf("%w (and moving it aside failed: %v)", err, rerr)
		} else {
			l, err = openEventLog(path+".log", each)
		}
	}
	if err != nil {
		// Recording goes on without it: events wait in the queue until
		// the log can be made.
		opt.Logf("%v; events are kept in memory until it can be written", err)
		l = unopened(path + ".log")
		batch, offs = nil, nil
		x.tl = newTimeline()                                       // what it read before failing is not at hand
		x.nextSeq = max(x.nextSeq, uint64(time.Now().UnixMicro())) // above any the lost log held
	}
	x.tl.add(batch, offs)
	x.log = l
	idx, err := openBleve(path)
	if err == nil && !currentMapping(idx) {
		// Made by an older version (before Vietnamese folding): the
		// log is the truth, rebuild the index from it.
		opt.Logf("search: index %s was made with another analysis (want %s); rebuilding it from the event log (%d events, %d bytes)", path, mappingVersion, len(x.tl.ids), l.end)
		func() {
			defer func() { recover() }()
			idx.Close()
		}()
		if rerr := os.RemoveAll(path); rerr != nil {
			opt.Logf("search: deleting %s: %v", path, rerr)
		}
		x.Rebuilt = true
		idx, err = newBleve(path)
	}
	switch {
	case err == nil:
	case errors.Is(err, bleve.ErrorIndexPathDoesNotExist):
		idx, err = newBleve(path)
	default:
		aside := fmt.Sprintf("%s.broken-%d", path, time.Now().Unix())
		opt.Logf("search: index %s cannot be opened (%v); moving it to %s and rebuilding it from the event log (%d events, %d bytes)", path, err, aside, len(x.tl.ids), l.end)
		if rerr := os.Rename(path, aside); rerr != nil {
			opt.Logf("search: moving %s aside: %v; deleting it (it is rebuilt from the event log)", path, rerr)
			os.RemoveAll(path)
		} else {
			x.Repaired = aside
		}
		idx, err = newBleve(path)
	}
	if err != nil {
		// A full disk: go on without text search, rebuild later.
		opt.Logf("%v; text search is unavailable until it can be rebuilt (every %v)", err, opt.RepairEvery)
		x.broken.Store(true)
		x.lastRepair = time.Now()
		close(x.catchDone)
		go x.writer()
		return x, nil
	}
	x.idx = idx
	x.marked = logHdrSize
	if m, err := idx.GetInternal(logMark); err == nil && len(m) == 16 &&
		binary.LittleEndian.Uint64(m) == l.gen && int64(binary.LittleEndian.Uint64(m[8:])) <= l.end {
		x.marked = int64(binary.LittleEndian.Uint64(m[8:]))
	}
	opt.Logf("search: %d events in the event log (%d bytes); the index had %d bytes of it", len(x.tl.ids), l.end, x.marked)
	if tail := l.end - x.marked; tail > syncCatchUpBytes {
		x.catchUpInBackground(x.catchDone)
	} else {
		close(x.catchDone)
		if err := x.catchUp(nil); err != nil {
			// Committed in the log all the same: indexed with a later batch.
			opt.Logf("search: %v", err)
		}
	}
	go x.writer()
	return x, nil
}

var errStopScan = errors.New("stop")

// DefaultMaxLogBytes is the event log's budget when Options.MaxLogBytes is
// 0: about 1.2 million events of a busy commune's mix (222 bytes each in
// the log; bleve's index beside it takes about five times the log).
const DefaultMaxLogBytes = 256 << 20

// newBleve makes an empty index (bleve may panic on a full disk).
func newBleve(path string) (idx bleve.Index, err error) {
	defer func() {
		if p := recover(); p != nil {
			idx, err = nil, fmt.Errorf("bleve panicked making %s: %v", path, p)
		}
	}()
	idx, err = bleve.New(path, newMapping())
	if err != nil {
		return nil, fmt.Errorf("search: create index %s: %w", path, err)
	}
	if err := idx.SetInternal(mappingMark, []byte(mappingVersion)); err != nil {
		idx.Close()
		return nil, fmt.Errorf("search: create index %s: mark its mapping: %w", path, err)
	}
	syncNewIndex(path)
	return idx, nil
}

// catchUpInBackground indexes the log from the mark in a goroutine that
// closes done (queries without text are answered from the timeline
// meanwhile).
func (x *Index) catchUpInBackground(done chan struct{}) {
	x.bleveMu.Lock()
	tail := x.log.end - x.marked
	x.bleveMu.Unlock()
	x.opt.Logf("search: indexing %d bytes of the event log in the background", tail)
	x.rebuilding.Store(true)
	go func() {
		defer close(done)
		t0 := time.Now()
		if err := x.catchUp(x.stop); err != nil {
			x.opt.Logf("search: background indexing: %v", err)
		} else if x.indexedAll() {
			x.opt.Logf("search: indexed the event log tail in %v", time.Since(t0).Round(time.Millisecond))
		}
		select {
		case <-x.stop: // closing: the next open goes on from the mark
			return
		default:
		}
		x.rebuilding.Store(false)
		// Batches written while it was being cleared.
		if err := x.catchUp(nil); err != nil {
			x.opt.Logf("search: indexing: %v", err)
		}
	}()
}

// bleveIndex is the bleve index, nil while it is broken.
func (x *Index) bleveIndex() bleve.Index {
	x.idxMu.RLock()
	defer x.idxMu.RUnlock()
	return x.idx
}

// ErrUnavailable answers text queries while bleve is broken (wrapped).
var ErrUnavailable = errors.New("text search is unavailable while the event index is rebuilt from the event log (filters by time, camera and type still work)")

// markBroken drops a bleve index that failed in a way that may have left
// it inconsistent (a panic); the writer rebuilds it from the log.
func (x *Index) markBroken(why any) {
	if x.broken.Swap(true) {
		return
	}
	x.opt.Logf("search: the event index failed (%v); text search is unavailable until it is rebuilt from the event log", why)
	x.idxMu.Lock()
	idx := x.idx
	x.idx = nil
	x.idxMu.Unlock()
	if idx != nil {
		func() {
			defer func() { recover() }()
			idx.Close()
		}()
	}
}

// repair rebuilds a broken index: a new, empty bleve index filled from the
// whole log in the background. On a full disk it fails and is tried again
// RepairEvery later.
func (x *Index) repair() {
	x.bleveMu.Lock()
	if !x.broken.Load() || time.Since(x.lastRepair) < x.opt.RepairEvery {
		x.bleveMu.Unlock()
		return
	}
	x.lastRepair = time.Now()
	os.RemoveAll(x.path) // derived from the log
	idx, err := newBleve(x.path)
	if err != nil {
		x.bleveMu.Unlock()
		x.opt.Logf("%v; trying again in %v", err, x.opt.RepairEvery)
		return
	}
	x.idxMu.Lock()
	x.idx = idx
	x.idxMu.Unlock()
	x.marked = logHdrSize
	x.broken.Store(false)
	x.bleveMu.Unlock()
	x.opt.Logf("search: rebuilding the event index from the event log")
	done := make(chan struct{})
	x.bg.Add(1)
	go func() { <-done; x.bg.Done() }()
	x.catchUpInBackground(done)
}

// trim keeps the event log inside its budget: past MaxLogBytes it deletes
// the oldest events, as retention would, down to about three quarters of
// the budget.
func (x *Index) trim(ctx context.Context) {
	x.bleveMu.Lock()
	end := x.log.end
	x.bleveMu.Unlock()
	if end <= x.opt.MaxLogBytes {
		return
	}
	var hold uint64
	if x.opt.Hold != nil {
		if hold = x.opt.Hold(); hold+1 == x.trimHeld.Load() {
			return
		}
	}
	// Delete enough that the rest takes about three quarters of the
	// budget (at least a quarter of the events): trims stay rare.
	x.tl.mu.RLock()
	n := len(x.tl.start)
	var cut time.Time
	if n > 0 {
		keep := int(float64(n) * 0.75 * float64(x.opt.MaxLogBytes) / float64(end))
		k := min(max(n-keep, n/4, 1), n)
		cut = time.UnixMilli(x.tl.start[k-1] + 1)
	}
	x.tl.mu.RUnlock()
	if n == 0 {
		return
	}
	k, err := x.DeleteBefore(ctx, cut, "")
	if err != nil {
		x.opt.Logf("search: event log over its budget of %d bytes: %v", x.opt.MaxLogBytes, err)
		return
	}
	if k == 0 && x.opt.Hold != nil {
		x.trimHeld.Store(hold + 1)
		x.opt.Logf("search: event log over its budget of %d bytes, but the district has not acknowledged its oldest events: kept until it does", x.opt.MaxLogBytes)
		return
	}
	x.opt.Logf("search: event log over its budget of %d bytes: deleted the %d events before %s", x.opt.MaxLogBytes, k, cut.UTC().Format(time.RFC3339))
}

// openBleve opens an existing index; a damaged segment file can make
// zapx panic while loading (a slice past its end), which is reported as an
// error so that the index is rebuilt from the log.
func openBleve(path string) (idx bleve.Index, err error) {
	defer func() {
		if p := recover(); p != nil {
			idx, err = nil, fmt.Errorf("bleve panicked opening it: %v", p)
		}
	}()
	return bleve.Open(path)
}

func (x *Index) indexedAll() bool {
	x.bleveMu.Lock()
	defer x.bleveMu.Unlock()
	return x.marked == x.log.end
}

// catchUp indexes the log from bleve's mark to its end, in batches that
// move the mark with them; it returns early when stop is closed.
func (x *Index) catchUp(stop <-chan struct{}) error {
	x.bleveMu.Lock()
	defer x.bleveMu.Unlock()
	var evs []events.Event
	for x.marked < x.log.end && !x.broken.Load() {
		select {
		case <-stop:
			return nil
		default:
		}
		evs = evs[:0]
		end := x.log.end
		next := end
		err := x.log.scan(x.marked, func(off int64, e events.Event) error {
			if len(evs) == x.opt.BatchSize || off >= end {
				next = off
				return errStopScan
			}
			evs = append(evs, e)
			return nil
		})
		if err != nil && err != errStopScan {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		if err := x.index(evs, next); err != nil {
			return err
		}
	}
	return nil
}

// Publish queues an event for indexing; it never blocks on the disk. An
// event published again with the same ID replaces the earlier one (a motion
// event is published when it starts and again when it ends).
func (x *Index) Publish(e events.Event) {
	if e.ID == "" {
		e.ID = fmt.Sprintf("%s-%s-%d", e.Type, e.Camera, e.Start.UnixNano())
	}
	x.mu.Lock()
	if len(x.pending) >= x.opt.MaxQueue {
		x.dropped++
		x.mu.Unlock()
		return
	}
	x.pending = append(x.pending, e)
	full := len(x.pending) >= x.opt.BatchSize
	x.mu.Unlock()
	if full {
		select {
		case x.kick <- struct{}{}:
		default:
		}
	}
}

// Dropped counts events refused because the queue was full.
func (x *Index) Dropped() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.dropped
}

func (x *Index) writer() {
	defer close(x.done)
	t := time.NewTicker(x.opt.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-x.stop:
			return
		case <-t.C:
		case <-x.kick:
		}
		if err := x.Flush(); err != nil {
			x.opt.Logf("search: %v", err)
		}
		if x.broken.Load() {
			x.repair()
		}
		x.trim(context.Background())
	}
}

// Flush writes every queued event and returns when they are committed.
func (x *Index) Flush() error {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	for {
		x.mu.Lock()
		n := min(len(x.pending), x.opt.BatchSize)
		todo := x.pending[:n:n]
		x.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := x.write(todo); err != nil {
			return err // the events stay queued and are tried again
		}
		x.mu.Lock()
		x.pending = x.pending[n:]
		if len(x.pending) == 0 {
			x.pending = nil
		}
		x.mu.Unlock()
	}
}

func (x *Index) write(evs []events.Event) error {
	x.bleveMu.Lock()
	if !x.opt.KeepSeq {
		for i := range evs {
			evs[i].Seq = x.nextSeq + uint64(i)
		}
	}
	offs, err := x.log.append(evs)
	if err == nil {
		x.nextSeq += uint64(len(evs))
	}
	x.bleveMu.Unlock()
	if err != nil {
		return fmt.Errorf("search: write %d events: %w", len(evs), err)
	}
	x.tl.add(evs, offs) // committed
	if x.rebuilding.Load() {
		return nil // the background catch-up indexes them
	}
	if err := x.catchUp(nil); err != nil {
		// Committed all the same: the next batch or open indexes them.
		x.opt.Logf("search: index %d events in %s: %v", len(evs), x.path, err)
	}
	return nil
}

// index writes events to bleve with the mark after them (under bleveMu).
// A panic in bleve (a full disk once made it assign to a nil map) marks the
// index broken instead of ending the process.
func (x *Index) index(evs []events.Event, mark int64) (err error) {
	idx := x.bleveIndex()
	if idx == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			x.markBroken(p)
			err = fmt.Errorf("write %d events to %s: bleve panicked: %v", len(evs), x.path, p)
		}
	}()
	b := idx.NewBatch()
	for _, e := range evs {
		j, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.ID, err)
		}
		d := doc{Type: string(e.Type), Camera: e.Camera, Household: e.Household, Start: e.Start.UTC(),
			Score: e.Score, Text: indexedText(e), J: string(j)}
		if err := b.Index(e.ID, d); err != nil {
			return fmt.Errorf("index event %s: %w", e.ID, err)
		}
	}
	b.SetInternal(logMark, encodeMark(x.log.gen, mark))
	if err := idx.Batch(b); err != nil {
		return fmt.Errorf("write %d events to %s: %w", len(evs), x.path, err)
	}
	x.marked = mark
	// Scorch fsyncs its segment files and root.bolt but not the
	// directory naming the new segments: do it, so that a power cut
	// after this batch finds them.
	syncDir(filepath.Join(x.path, "store", "x"))
	return nil
}

// syncNewIndex makes a new bleve index survive a power cut: bleve writes
// index_meta.json without fsync and never fsyncs a directory.
func syncNewIndex(path string) {
	if f, err := os.Open(filepath.Join(path, "index_meta.json")); err == nil {
		f.Sync()
		f.Close()
	}
	syncDir(filepath.Join(path, "store", "x"))
	syncDir(filepath.Join(path, "x"))
	syncDir(path)
}

// stored returns an event from the log.
func (x *Index) stored(id string) (events.Event, bool, error) {
	// Under the timeline's lock: a log rewrite (DeleteBefore) moves
	// records while holding it.
	x.tl.mu.RLock()
	defer x.tl.mu.RUnlock()
	p, ok := x.tl.pos[id]
	if !ok {
		return events.Event{}, false, nil
	}
	e, err := x.log.read(x.tl.off[p])
	if err != nil {
		return e, false, fmt.Errorf("stored event %s: %w", id, err)
	}
	return e, true, nil
}

// Close flushes the queue, stops the writer and closes the index.
func (x *Index) Close() error {
	var err error
	x.once.Do(func() {
		close(x.stop)
		<-x.done
		<-x.catchDone
		x.bg.Wait()
		err = x.Flush()
		if idx := x.bleveIndex(); idx != nil {
			func() {
				defer func() {
					if p := recover(); p != nil && err == nil {
						err = fmt.Errorf("search: close %s: bleve panicked: %v", x.path, p)
					}
				}()
				if cerr := idx.Close(); cerr != nil && err == nil {
					err = fmt.Errorf("search: close %s: %w", x.path, cerr)
				}
			}()
		}
		if cerr := x.log.close(); cerr != nil && err == nil {
			err = fmt.Errorf("search: close event log: %w", cerr)
		}
	})
	return err
}

// Count is the number of events in the index (not counting the queue);
// while bleve is broken, the number in the event log.
func (x *Index) Count() (uint64, error) {
	idx := x.bleveIndex()
	if idx == nil {
		x.tl.mu.RLock()
		defer x.tl.mu.RUnlock()
		return uint64(len(x.tl.ids)), nil
	}
	return idx.DocCount()
}

// DeleteBefore removes the events that started before t: of one camera, or
// of all when camera is "". It returns how many it removed. Call it when
// retention deletes the recordings the events point to.
func (x *Index) DeleteBefore(ctx context.Context, t time.Time, camera string) (int, error) {
	if err := x.Flush(); err != nil {
		return 0, err
	}
	if x.rebuilding.Load() {
		return 0, fmt.Errorf("search: the index is being rebuilt from the event log; delete later")
	}
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	if err := x.catchUp(nil); err != nil {
		// Bleve lags behind the log (a full disk) and its mark cannot
		// follow the rewrite: rebuild it from the new log later.
		x.markBroken(err)
	}
	x.bleveMu.Lock()
	defer x.bleveMu.Unlock()
	if x.opt.Hold != nil {
		held, err := x.oldestHeld(x.opt.Hold())
		if err != nil {
			return 0, err
		}
		if !held.IsZero() && held.Before(t) {
			t = held // events the district has not acknowledged stay
		}
	}
	// A rewrite may drop the events with the highest Seq (all deleted):
	// the next one must still be larger.
	if err := writeSeqFloor(x.log.path, x.nextSeq); err != nil {
		return 0, err
	}
	// Which events: from the timeline, without touching it yet.
	x.tl.mu.RLock()
	q := Query{To: t, Size: 1 << 30}
	var cams []string
	if camera != "" {
		cams = []string{camera}
	}
	x.tl.mu.RUnlock()
	_, _, _, ids := x.tl.query(q, cams, nil)
	// Bleve first, then the log gets a new generation and bleve's mark
	// follows it: a crash in between makes the next open re-index the
	// whole log (events not yet deleted from it come back, consistently).
	if err := x.deleteFromBleve(ctx, ids); err != nil {
		if ctx.Err() != nil {
			return 0, err
		}
		x.markBroken(err) // the log is trimmed all the same
	}
	gone, _ := x.tl.deleteBefore(t, camera)
	if len(gone) == 0 {
		return 0, nil
	}
	x.tl.mu.Lock()
	defer x.tl.mu.Unlock()
	err := x.log.rewrite(func(off int64, e events.Event) bool {
		p, ok := x.tl.pos[e.ID]
		return ok && x.tl.off[p] == off
	}, func(id string, off int64) { x.tl.off[x.tl.pos[id]] = off })
	if err != nil {
		return len(gone), fmt.Errorf("search: %w", err)
	}
	if err := x.markAll(); err != nil {
		x.markBroken(err)
	}
	return len(gone), nil
}

// deleteFromBleve deletes documents (under bleveMu); nothing while bleve
// is broken (it is rebuilt from the log).
func (x *Index) deleteFromBleve(ctx context.Context, ids []string) (err error) {
	idx := x.bleveIndex()
	if idx == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bleve panicked deleting events: %v", p)
		}
	}()
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(ids), 10000)
		b := idx.NewBatch()
		for _, id := range ids[:n] {
			b.Delete(id)
		}
		if err := idx.Batch(b); err != nil {
			return fmt.Errorf("search: delete %d events: %w", n, err)
		}
		ids = ids[n:]
	}
	return nil
}

// markAll records in bleve that it holds the whole log (under bleveMu).
func (x *Index) markAll() (err error) {
	idx := x.bleveIndex()
	if idx == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bleve panicked: %v", p)
		}
	}()
	b := idx.NewBatch()
	b.SetInternal(logMark, encodeMark(x.log.gen, x.log.end))
	if err := idx.Batch(b); err != nil {
		return fmt.Errorf("search: mark index: %w", err)
	}
	x.marked = x.log.end
	return nil
}
