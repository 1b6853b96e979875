package search

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// timeline keeps, for every committed event, what filter-only queries need
// (start, camera, type, ID) and where its record is in the event log, in
// memory, sorted by start: a query by time range, camera and type with
// facets and a page then costs a scan of compact arrays instead of a bleve
// search that sorts and facets a million documents. Free-text queries
// still go to bleve. It is built from the event log at open.
type timeline struct {
	mu     sync.RWMutex
	start  []int64 // Unix milliseconds, ascending
	cam    []uint16
	typ    []uint8
	ids    []string
	off    []int64          // record offset in the event log
	pos    map[string]int32 // ID -> index, valid unless dirty
	dirty  bool             // an insert or delete moved later events
	cams   []string
	camIdx map[string]uint16
	types  []events.Type
	typIdx map[events.Type]uint8
}

func newTimeline() *timeline {
	return &timeline{pos: map[string]int32{}, camIdx: map[string]uint16{}, typIdx: map[events.Type]uint8{}}
}

// add makes a batch visible (under the lock).
func (tl *timeline) add(evs []events.Event, offs []int64) {
	tl.mu.Lock()
	for i := range evs {
		tl.put(evs[i].ID, evs[i].Start.UnixMilli(), evs[i].Camera, evs[i].Type, offs[i])
	}
	if tl.dirty { // queries look events up by ID
		tl.reindex()
	}
	tl.mu.Unlock()
}

// put adds or replaces an event.
func (tl *timeline) put(id string, start int64, cam string, typ events.Type, off int64) {
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
		tl.cam[p], tl.typ[p], tl.off[p] = ci, ti, off
		return
	} else if ok {
		tl.remove(int(p))
		if tl.dirty {
			tl.reindex()
		}
	}
	tl.insert(id, start, ci, ti, off)
}

func (tl *timeline) insert(id string, start int64, ci uint16, ti uint8, off int64) {
	n := len(tl.start)
	i := n
	if n > 0 && tl.start[n-1] > start {
		i = sort.Search(n, func(k int) bool { return tl.start[k] > start })
	}
	tl.start = slices.Insert(tl.start, i, start)
	tl.cam = slices.Insert(tl.cam, i, ci)
	tl.typ = slices.Insert(tl.typ, i, ti)
	tl.ids = slices.Insert(tl.ids, i, id)
	tl.off = slices.Insert(tl.off, i, off)
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
	tl.off = slices.Delete(tl.off, i, i+1)
}

func (tl *timeline) reindex() {
	tl.dirty = false
	clear(tl.pos)
	for i, id := range tl.ids {
		tl.pos[id] = int32(i)
	}
}

// deleteBefore removes events before t (of one camera, or all when cam is
// "") and returns the removed IDs; the caller rewrites the log.
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
		tl.start[keep], tl.cam[keep], tl.typ[keep], tl.ids[keep], tl.off[keep] = tl.start[i], tl.cam[i], tl.typ[i], tl.ids[i], tl.off[i]
		keep++
	}
	if len(gone) == 0 {
		return nil, nil
	}
	clear(tl.ids[keep:])
	tl.start, tl.cam, tl.typ, tl.ids, tl.off = tl.start[:keep], tl.cam[:keep], tl.typ[:keep], tl.ids[:keep], tl.off[:keep]
	tl.reindex()
	return gone, nil
}

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
