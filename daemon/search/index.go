// Package search keeps every event of the box (motion, scene change, tamper,
// camera offline/online, disk, login, export, setting changed) in a bleve
// index on the data partition and answers queries on it: free text, time
// range, camera and type filters, facets by camera and type, newest first,
// paged.
//
// Index implements events.Publisher. Publish only queues; a background
// writer applies the queue in batches (when it reaches BatchSize or every
// FlushEvery). An event is committed once the batch holding it returned: the
// bleve scorch index has then written and fsynced it, and a power cut or
// SIGKILL afterwards does not lose it. A crash mid-batch loses at most the
// batch being written (never more than FlushEvery of events) and never
// leaves an index that cannot be opened; an index that still cannot be opened
// (a damaged card) is moved aside and a new one started, so the box keeps
// recording events.
package search

import (
	"context"
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
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/matthan/matthan/daemon/events"
)

// Options tune the writer. Zero values pick the defaults beside them.
type Options struct {
	BatchSize  int           // events per batch (default 1000)
	FlushEvery time.Duration // longest an event waits in the queue (default 1 s)
	MaxQueue   int           // events queued before new ones are dropped (default 100000)
	Logf       func(format string, args ...any)
}

// Index is the event index. Its methods are safe for concurrent use.
type Index struct {
	idx  bleve.Index
	tl   *timeline
	path string
	opt  Options

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

	// Repaired is set when Open found an index it could not open and moved
	// it aside to path+".broken-<unix time>".
	Repaired string
}

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
	kw := func() *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = keyword.Name
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = true
		return f
	}
	date := func() *mapping.FieldMapping {
		f := bleve.NewDateTimeFieldMapping()
		f.Store = false
		f.IncludeInAll = false
		f.DocValues = true
		return f
	}
	dm := bleve.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt(fType, kw())
	dm.AddFieldMappingsAt(fCamera, kw())
	hh := kw()
	hh.DocValues = false
	dm.AddFieldMappingsAt(fHousehold, hh)
	dm.AddFieldMappingsAt(fStart, date())
	score := bleve.NewNumericFieldMapping()
	score.Store = false
	score.IncludeInAll = false
	score.DocValues = false
	dm.AddFieldMappingsAt(fScore, score)
	text := bleve.NewTextFieldMapping()
	text.Analyzer = standard.Name
	text.Store = false
	text.IncludeTermVectors = false
	text.IncludeInAll = false
	text.DocValues = false
	dm.AddFieldMappingsAt(fText, text)
	stored := bleve.NewTextFieldMapping()
	stored.Index = false
	stored.Store = true
	stored.IncludeInAll = false
	stored.DocValues = false
	dm.AddFieldMappingsAt(fStored, stored)

	im := bleve.NewIndexMapping()
	im.DefaultMapping = dm
	im.DefaultField = fText
	im.StoreDynamic = false
	im.IndexDynamic = false
	im.DocValuesDynamic = false
	return im
}

// Open opens the index at path, making it if it does not exist. An index
// that exists but cannot be opened is moved aside and replaced by a new one
// (see Index.Repaired).
func Open(path string, opt Options) (*Index, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 1000
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = time.Second
	}
	if opt.MaxQueue <= 0 {
		opt.MaxQueue = 100000
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	x := &Index{path: path, opt: opt, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	idx, err := bleve.Open(path)
	switch {
	case err == nil:
	case errors.Is(err, bleve.ErrorIndexPathDoesNotExist):
		idx, err = bleve.New(path, newMapping())
		if err != nil {
			return nil, fmt.Errorf("search: create index %s: %w", path, err)
		}
	default:
		aside := fmt.Sprintf("%s.broken-%d", path, time.Now().Unix())
		opt.Logf("search: index %s cannot be opened (%v); moving it to %s and starting a new one", path, err, aside)
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("search: open index %s: %w (and moving it aside failed: %v)", path, err, rerr)
		}
		x.Repaired = aside
		idx, err = bleve.New(path, newMapping())
		if err != nil {
			return nil, fmt.Errorf("search: create index %s after moving the broken one aside: %w", path, err)
		}
	}
	x.idx = idx
	tl, err := openTimeline(filepath.Join(path, "timeline.log"), x.exists)
	if err != nil {
		idx.Close()
		return nil, err
	}
	x.tl = tl
	if n, _ := idx.DocCount(); n > 0 && len(tl.ids) == 0 {
		opt.Logf("search: index %s has %d events but no timeline: rebuilding it", path, n)
		if err := x.rebuildTimeline(); err != nil {
			idx.Close()
			tl.close()
			return nil, err
		}
	}
	go x.writer()
	return x, nil
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
	b := x.idx.NewBatch()
	for _, e := range evs {
		j, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.ID, err)
		}
		d := doc{Type: string(e.Type), Camera: e.Camera, Household: e.Household, Start: e.Start.UTC(),
			Score: e.Score, Text: e.Text, J: string(j)}
		if err := b.Index(e.ID, d); err != nil {
			return fmt.Errorf("index event %s: %w", e.ID, err)
		}
	}
	if err := x.tl.prepare(evs); err != nil {
		return fmt.Errorf("write %d events to %s: %w", len(evs), x.path, err)
	}
	if err := x.idx.Batch(b); err != nil {
		return fmt.Errorf("write %d events to %s: %w", len(evs), x.path, err)
	}
	return x.tl.commit(evs)
}

// exists reports whether bleve holds the event.
func (x *Index) exists(id string) bool {
	d, err := x.idx.Document(id)
	return err == nil && d != nil
}

// stored returns an event as stored in bleve.
func (x *Index) stored(id string) (events.Event, bool, error) {
	var e events.Event
	d, err := x.idx.Document(id)
	if err != nil || d == nil {
		return e, false, err
	}
	var raw []byte
	d.VisitFields(func(f index.Field) {
		if f.Name() == fStored {
			raw = f.Value()
		}
	})
	if raw == nil {
		return e, false, nil
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, false, fmt.Errorf("stored event %s: %w", id, err)
	}
	return e, true, nil
}

// rebuildTimeline fills an empty timeline from the events in bleve.
func (x *Index) rebuildTimeline() error {
	var after []string
	for {
		req := bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), 10000, 0, false)
		req.SortBy([]string{"_id"})
		req.Fields = []string{fStored}
		if after != nil {
			req.SearchAfter = after
		}
		res, err := x.idx.Search(req)
		if err != nil {
			return fmt.Errorf("search: rebuild timeline: %w", err)
		}
		if len(res.Hits) == 0 {
			x.tl.reindex()
			return x.tl.rewrite()
		}
		for _, h := range res.Hits {
			var e events.Event
			if s, ok := h.Fields[fStored].(string); ok && json.Unmarshal([]byte(s), &e) == nil {
				x.tl.put(h.ID, e.Start.UnixMilli(), e.Camera, e.Type)
			}
		}
		after = []string{res.Hits[len(res.Hits)-1].ID}
	}
}

// Close flushes the queue, stops the writer and closes the index.
func (x *Index) Close() error {
	var err error
	x.once.Do(func() {
		close(x.stop)
		<-x.done
		err = x.Flush()
		if cerr := x.idx.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("search: close %s: %w", x.path, cerr)
		}
		if cerr := x.tl.close(); cerr != nil && err == nil {
			err = fmt.Errorf("search: close timeline: %w", cerr)
		}
	})
	return err
}

// Count is the number of events in the index (not counting the queue).
func (x *Index) Count() (uint64, error) { return x.idx.DocCount() }

// DeleteBefore removes the events that started before t: of one camera, or
// of all when camera is "". It returns how many it removed. Call it when
// retention deletes the recordings the events point to.
func (x *Index) DeleteBefore(ctx context.Context, t time.Time, camera string) (int, error) {
	if err := x.Flush(); err != nil {
		return 0, err
	}
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	// Which events: from the timeline, without touching it yet.
	x.tl.mu.RLock()
	q := Query{To: t, Size: 1 << 30}
	var cams []string
	if camera != "" {
		cams = []string{camera}
	}
	x.tl.mu.RUnlock()
	_, _, _, ids := x.tl.query(q, cams, nil)
	// Bleve first: a crash before the timeline is rewritten leaves IDs
	// there that bleve lacks, which queries skip.
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := min(len(ids), 10000)
		b := x.idx.NewBatch()
		for _, id := range ids[:n] {
			b.Delete(id)
		}
		if err := x.idx.Batch(b); err != nil {
			return 0, fmt.Errorf("search: delete %d events: %w", n, err)
		}
		ids = ids[n:]
	}
	gone, err := x.tl.deleteBefore(t, camera)
	if err != nil {
		return len(gone), fmt.Errorf("search: %w", err)
	}
	return len(gone), nil
}
