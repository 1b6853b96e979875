package search

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/matthan/matthan/daemon/events"
)

// Free-text queries: bleve only says which events match; the timeline
// sorts, counts and pages them.
//
// A bleve search request that sorts by start and facets by camera and type
// reads each match's doc values three times and scores it; on a 1 M event
// index a query over a week spends most of its time there. searchText asks
// bleve for the matching documents only (no score, no sort, no facets),
// turns their IDs into timeline positions, which already hold start,
// camera and type, and builds the same answer the bleve request gives:
// the same hits in the same order (start newest first, then ID descending),
// the same total and the same facets (bleve's top 100 cameras and 20 types).
// searchBleve stays as the reference it is tested against.

// Facet sizes of the bleve request (see Query.request).
const (
	cameraFacetSize = 100
	typeFacetSize   = 20
)

// errNotInTimeline makes searchText fall back to bleve: a matching event
// the timeline does not hold (it should not happen: the timeline is written
// before bleve and cleaned after it).
var (
	errNotInTimeline = errors.New("a matching event is missing from the timeline")
	errStalePos      = errors.New("the timeline's ID lookup is stale")
)

// bleve's date fields hold Unix nanoseconds; events outside that span are
// sorted by bleve in ways the timeline does not copy, so such a match
// sends the query back to bleve.
var (
	minStartMilli = document.MinTimeRepresentable.UnixMilli() + 1
	maxStartMilli = document.MaxTimeRepresentable.UnixMilli() - 1
)

func (x *Index) searchText(ctx context.Context, q Query) (*Result, error) {
	t0 := time.Now()
	req, err := q.request()
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	ids, err := x.matchingIDs(ctx, req.Query)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	total, byCam, byType, window, off, err := x.tl.rank(ids, req.From, req.Size)
	if errors.Is(err, errNotInTimeline) || errors.Is(err, errStalePos) {
		x.opt.Logf("search: %v; answering from bleve", err)
		return x.searchBleve(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	evs, err := x.orderPage(window, off, req.Size)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return &Result{Total: total, Page: q.Page, Size: req.Size, Events: evs, ByCamera: byCam, ByType: byType, Took: time.Since(t0)}, nil
}

// matchingIDs returns the IDs of every document matching qq, unordered.
func (x *Index) matchingIDs(ctx context.Context, qq query.Query) ([]string, error) {
	adv, err := x.idx.Advanced()
	if err != nil {
		return nil, err
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	s, err := qq.Searcher(ctx, r, x.idx.Mapping(), search.SearcherOptions{Score: "none"})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	sc := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0), IndexReader: r}
	var ids []string
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		dm, err := s.Next(sc)
		if err != nil {
			return nil, err
		}
		if dm == nil {
			return ids, nil
		}
		id, err := r.ExternalID(dm.IndexInternalID)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
		sc.DocumentMatchPool.Put(dm)
	}
}

// rank counts the matching events ids by camera and type and returns the
// matches from skip on, newest first (start, then ID, descending), at
// least size of them and more when events at the same millisecond as the
// page's first or last one lie beyond it (orderPage sorts those by their
// exact start). The page starts off events into the window.
func (tl *timeline) rank(ids []string, skip, size int) (total uint64, byCam, byType map[string]uint64, window []string, off int, err error) {
	tl.mu.RLock()
	defer tl.mu.RUnlock()
	if tl.dirty {
		return 0, nil, nil, nil, 0, errStalePos
	}
	pos := make([]int32, len(ids))
	camN := make([]uint64, len(tl.cams))
	typN := make([]uint64, len(tl.types))
	for i, id := range ids {
		p, ok := tl.pos[id]
		if !ok || tl.start[p] < minStartMilli || tl.start[p] > maxStartMilli {
			return 0, nil, nil, nil, 0, errNotInTimeline
		}
		pos[i] = p
		camN[tl.cam[p]]++
		typN[tl.typ[p]]++
	}
	// Positions ascend with start: descending positions are newest first,
	// up to the order within one millisecond, fixed below.
	slices.SortFunc(pos, func(a, b int32) int { return int(b - a) })
	lo, hi := min(skip, len(pos)), min(skip+size, len(pos))
	if lo < hi {
		for lo > 0 && tl.start[pos[lo-1]] == tl.start[pos[lo]] {
			lo--
		}
		for hi < len(pos) && tl.start[pos[hi]] == tl.start[pos[hi-1]] {
			hi++
		}
	}
	window = make([]string, 0, hi-lo)
	for _, p := range pos[lo:hi] {
		window = append(window, tl.ids[p])
	}
	byCam = topTerms(camN, func(i int) string { return tl.cams[i] }, cameraFacetSize)
	byType = topTerms(typN, func(i int) string { return string(tl.types[i]) }, typeFacetSize)
	return uint64(len(ids)), byCam, byType, window, skip - lo, nil
}

// topTerms is a facet as bleve reports it: the n terms with the most
// events (ties by term), non-zero counts only.
func topTerms(counts []uint64, name func(int) string, n int) map[string]uint64 {
	type tc struct {
		term  string
		count uint64
	}
	var all []tc
	for i, c := range counts {
		if c > 0 {
			all = append(all, tc{name(i), c})
		}
	}
	if len(all) > n {
		sort.Slice(all, func(i, j int) bool {
			if all[i].count == all[j].count {
				return all[i].term < all[j].term
			}
			return all[i].count > all[j].count
		})
		all = all[:n]
	}
	m := make(map[string]uint64, len(all))
	for _, t := range all {
		m[t.term] = t.count
	}
	return m
}

// orderPage loads the window's events, puts those within one millisecond
// in bleve's order (exact start, then ID, descending) and returns the page.
func (x *Index) orderPage(window []string, off, size int) ([]events.Event, error) {
	evs := make([]events.Event, 0, len(window))
	for _, id := range window {
		e, ok, err := x.stored(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("event %s matched but is not stored", id)
		}
		evs = append(evs, e)
	}
	slices.SortStableFunc(evs, func(a, b events.Event) int {
		if c := b.Start.UTC().UnixNano() - a.Start.UTC().UnixNano(); c != 0 {
			if c > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(b.ID, a.ID)
	})
	off = min(off, len(evs))
	return evs[off:min(off+size, len(evs))], nil
}
