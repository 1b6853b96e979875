package search

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// timeline keeps, for every indexed event, what filter-only queries need
// (start, camera, type, ID) in memory, sorted by start: a query by time
// range, camera and type with facets and a page then costs a scan of
// compact arrays instead of a bleve search that sorts and facets a million
// documents. Free-text queries still go to bleve.
//
// It persists as an append-only log beside the bleve index: a batch's
// records are appended and fsynced before the bleve batch is written, and
// a commit record after it. On open, records after the last commit (a crash
// between the two writes) are kept only if bleve holds the event; a torn
// last record is cut off.
type timeline struct {
	mu     sync.RWMutex
	start  []int64 // Unix milliseconds, ascending
	cam    []uint16
	typ    []uint8
	ids    []string
	pos    map[string]int32 // ID -> index, valid unless dirty
	dirty  bool             // an insert or delete moved later events
	cams   []string
	camIdx map[string]uint16
	types  []events.Type
	typIdx map[events.Type]uint8

	f    *os.File
	path string
}

const (
	recEvent  = 'E'
	recCommit = 'C'
)

func openTimeline(path string, exists func(id string) bool) (*timeline, error) {
	tl := &timeline{path: path, pos: map[string]int32{}, camIdx: map[string]uint16{}, typIdx: map[events.Type]uint8{}}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("search: open timeline: %w", err)
	}
	good, err := tl.load(f, exists)
	if err != nil {
		f.Close()
		return nil, err
	}
	// Cut a torn tail so that appends follow whole records.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("search: truncate timeline: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	tl.f = f
	return tl, nil
}

type rec struct {
	id, cam string
	start   int64
	typ     events.Type
}

// load reads the log and returns the length of its whole records.
func (tl *timeline) load(f *os.File, exists func(string) bool) (int64, error) {
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var pending []rec
	apply := func(rs []rec) {
		for _, x := range rs {
			tl.put(x.id, x.start, x.cam, x.typ)
		}
	}
	for {
		kind, err := r.ReadByte()
		if err != nil {
			break
		}
		if kind == recCommit {
			apply(pending)
			pending = pending[:0]
			off++
			continue
		}
		if kind != recEvent {
			break // garbage: treat as the end
		}
		var hdr [8 + 1 + 2 + 2]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		start := int64(binary.LittleEndian.Uint64(hdr[0:]))
		typ := hdr[8]
		idLen, camLen := int(binary.LittleEndian.Uint16(hdr[9:])), int(binary.LittleEndian.Uint16(hdr[11:]))
		buf := make([]byte, idLen+camLen+int(typ))
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		pending = append(pending, rec{id: string(buf[:idLen]), cam: string(buf[idLen : idLen+camLen]), start: start, typ: events.Type(buf[idLen+camLen:])})
		off += 1 + int64(len(hdr)) + int64(len(buf))
	}
	// Records after the last commit: a crash came between the log and
	// the bleve batch. Keep those bleve has.
	committed := off
	for _, x := range pending {
		if exists(x.id) {
			tl.put(x.id, x.start, x.cam, x.typ)
		}
	}
	tl.reindex()
	return committed, nil
}

func encodeRec(b []byte, e *events.Event) []byte {
	var hdr [1 + 8 + 1 + 2 + 2]byte
	hdr[0] = recEvent
	binary.LittleEndian.PutUint64(hdr[1:], uint64(e.Start.UnixMilli()))
	hdr[9] = byte(len(e.Type))
	binary.LittleEndian.PutUint16(hdr[10:], uint16(len(e.ID)))
	binary.LittleEndian.PutUint16(hdr[12:], uint16(len(e.Camera)))
	b = append(b, hdr[:]...)
	b = append(b, e.ID...)
	b = append(b, e.Camera...)
	return append(b, e.Type...)
}

// prepare appends a batch's records to the log and syncs it.
func (tl *timeline) prepare(evs []events.Event) error {
	var b []byte
	for i := range evs {
		e := &evs[i]
		if len(e.ID) > 0xffff || len(e.Camera) > 0xffff || len(e.Type) > 0xff {
			return fmt.Errorf("event %.40q: ID, camera or type too long", e.ID)
		}
		b = encodeRec(b, e)
	}
	if _, err := tl.f.Write(b); err != nil {
		return fmt.Errorf("timeline append: %w", err)
	}
	if err := tl.f.Sync(); err != nil {
		return fmt.Errorf("timeline sync: %w", err)
	}
	return nil
}

// commit marks the batch written to bleve and makes it visible.
func (tl *timeline) commit(evs []events.Event) error {
	if _, err := tl.f.Write([]byte{recCommit}); err != nil {
		return fmt.Errorf("timeline commit: %w", err)
	}
	tl.mu.Lock()
	for i := range evs {
		tl.put(evs[i].ID, evs[i].Start.UnixMilli(), evs[i].Camera, evs[i].Type)
	}
	if tl.dirty { // queries look events up by ID
		tl.reindex()
	}
	tl.mu.Unlock()
	return nil
}

// put adds or replaces an event.
func (tl *timeline) put(id string, start int64, cam string, typ events.Type) {
	ci, ok := tl.camIdx[cam]
	if !ok {
		ci = uint16(len(tl.cams))
		tl.cams = append(tl.cams, cam)
		tl.camIdx[cam] = ci
	}
	ti, ok := tl.typIdx[typ]
	if !ok {
		ti = uint8(len(tl.types))
		tl.types = append(tl.types, typ)
		tl.typIdx[typ] = ti
	}
	if tl.dirty {
		tl.reindex()
	}
	if p, ok := tl.pos[id]; ok && tl.start[p] == start {
		tl.cam[p], tl.typ[p] = ci, ti
		return
	} else if ok {
		tl.remove(int(p))
		if tl.dirty {
			tl.reindex()
		}
	}
	tl.insert(id, start, ci, ti)
}

func (tl *timeline) insert(id string, start int64, ci uint16, ti uint8) {
	n := len(tl.start)
	i := n
	if n > 0 && tl.start[n-1] > start {
		i = sort.Search(n, func(k int) bool { return tl.start[k] > start })
	}
	tl.start = slices.Insert(tl.start, i, start)
	tl.cam = slices.Insert(tl.cam, i, ci)
	tl.typ = slices.Insert(tl.typ, i, ti)
	tl.ids = slices.Insert(tl.ids, i, id)
	tl.pos[id] = int32(i)
	if i != n {
		tl.dirty = true
	}
}

func (tl *timeline) remove(i int) {
	delete(tl.pos, tl.ids[i])
	tl.dirty = tl.dirty || i != len(tl.ids)-1
	tl.start = slices.Delete(tl.start, i, i+1)
	tl.cam = slices.Delete(tl.cam, i, i+1)
	tl.typ = slices.Delete(tl.typ, i, i+1)
	tl.ids = slices.Delete(tl.ids, i, i+1)
}

func (tl *timeline) reindex() {
	tl.dirty = false
	clear(tl.pos)
	for i, id := range tl.ids {
		tl.pos[id] = int32(i)
	}
}

// deleteBefore removes events before t (of one camera, or all when cam is
// ""), rewrites the log and returns the removed IDs.
func (tl *timeline) deleteBefore(t time.Time, cam string) ([]string, error) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	lim := t.UnixMilli()
	end := sort.Search(len(tl.start), func(k int) bool { return tl.start[k] >= lim })
	ci, haveCam := tl.camIdx[cam]
	if cam != "" && !haveCam {
		return nil, nil
	}
	var gone []string
	keep := 0
	for i := range tl.start {
		if i < end && (cam == "" || tl.cam[i] == ci) {
			gone = append(gone, tl.ids[i])
			continue
		}
		tl.start[keep], tl.cam[keep], tl.typ[keep], tl.ids[keep] = tl.start[i], tl.cam[i], tl.typ[i], tl.ids[i]
		keep++
	}
	if len(gone) == 0 {
		return nil, nil
	}
	clear(tl.ids[keep:])
	tl.start, tl.cam, tl.typ, tl.ids = tl.start[:keep], tl.cam[:keep], tl.typ[:keep], tl.ids[:keep]
	tl.reindex()
	return gone, tl.rewrite()
}

// rewrite writes the whole timeline to a new log and renames it over the
// old one (after a delete).
func (tl *timeline) rewrite() error {
	tmp := tl.path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("timeline rewrite: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var b []byte
	for i := range tl.start {
		e := events.Event{ID: tl.ids[i], Camera: tl.cams[tl.cam[i]], Type: tl.types[tl.typ[i]], Start: time.UnixMilli(tl.start[i])}
		b = encodeRec(b[:0], &e)
		w.Write(b)
	}
	w.WriteByte(recCommit)
	err = errors.Join(w.Flush(), f.Sync())
	if err == nil {
		err = os.Rename(tmp, tl.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("timeline rewrite: %w", err)
	}
	if d, err := os.Open(dirOf(tl.path)); err == nil {
		d.Sync()
		d.Close()
	}
	tl.f.Close()
	tl.f = f
	return nil
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i+1]
		}
	}
	return "."
}

func (tl *timeline) close() error { return tl.f.Close() }

// query answers a filter-only query: total, facets and the page's IDs,
// newest first.
func (tl *timeline) query(q Query, cams []string, types []events.Type) (total uint64, byCam, byType map[string]uint64, page []string) {
	tl.mu.RLock()
	defer tl.mu.RUnlock()
	lo, hi := 0, len(tl.start)
	if !q.From.IsZero() {
		f := q.From.UnixMilli()
		lo = sort.Search(len(tl.start), func(k int) bool { return tl.start[k] >= f })
	}
	if !q.To.IsZero() {
		t := q.To.UnixMilli()
		hi = sort.Search(len(tl.start), func(k int) bool { return tl.start[k] >= t })
	}
	var camOK []bool
	if cams != nil {
		camOK = make([]bool, len(tl.cams))
		for _, c := range cams {
			if i, ok := tl.camIdx[c]; ok {
				camOK[i] = true
			}
		}
	}
	var typOK []bool
	if len(types) > 0 {
		typOK = make([]bool, len(tl.types))
		for _, t := range types {
			if i, ok := tl.typIdx[t]; ok {
				typOK[i] = true
			}
		}
	}
	camN := make([]uint64, len(tl.cams))
	typN := make([]uint64, len(tl.types))
	skip := q.Page * q.Size
	for i := hi - 1; i >= lo; i-- {
		c, t := tl.cam[i], tl.typ[i]
		if (camOK != nil && !camOK[c]) || (typOK != nil && !typOK[t]) {
			continue
		}
		camN[c]++
		typN[t]++
		if total >= uint64(skip) && len(page) < q.Size {
			page = append(page, tl.ids[i])
		}
		total++
	}
	byCam, byType = map[string]uint64{}, map[string]uint64{}
	for i, n := range camN {
		if n > 0 {
			byCam[tl.cams[i]] = n
		}
	}
	for i, n := range typN {
		if n > 0 {
			byType[string(tl.types[i])] = n
		}
	}
	return total, byCam, byType, page
}
