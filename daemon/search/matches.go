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
	// bleve matches a slightly wider, aligned time range (far cheaper:
	// a few coarse terms of the date field instead of hundreds of fine
	// ones); rank keeps the events of the exact range.
	wide := q
	wide.From, wide.To = widen(q.From, q.To)
	wreq, err := wide.request()
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	matches := func(each func(id string) error) error { return x.eachMatch(ctx, wreq.Query, each) }
	r := span{from: q.From, to: q.To, exactStart: func(id string) (time.Time, error) {
		e, ok, err := x.stored(id)
		if err == nil && !ok {
			err = fmt.Errorf("event %s matched but is not stored", id)
		}
		return e.Start, err
	}}
	total, byCam, byType, window, off, err := x.tl.rank(matches, r, req.From, req.Size)
	if errors.Is(err, errNotInTimeline) || errors.Is(err, errStalePos) {
		// Also while a batch is between bleve and the timeline: rare
		// and short, so said once.
		if !x.warnedFallback.Swap(true) {
			x.opt.Logf("search: %v; answering from bleve (said once)", err)
		}
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

// eachMatch calls each with the ID of every document matching qq, in
// bleve's internal order, and stops at its first error.
func (x *Index) eachMatch(ctx context.Context, qq query.Query, each func(id string) error) error {
	idx := x.bleveIndex()
	if idx == nil {
		return ErrUnavailable
	}
	adv, err := idx.Advanced()
	if err != nil {
		return err
	}
	r, err := adv.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := qq.Searcher(ctx, r, idx.Mapping(), search.SearcherOptions{Score: "none"})
	if err != nil {
		return err
	}
	defer s.Close()
	sc := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0), IndexReader: r}
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		dm, err := s.Next(sc)
		if err != nil {
			return err
		}
		if dm == nil {
			return nil
		}
		id, err := r.ExternalID(dm.IndexInternalID)
		if err != nil {
			return err
		}
		sc.DocumentMatchPool.Put(dm)
		if err := each(id); err != nil {
			return err
		}
	}
}

// rank takes the events matches gives (called while rank holds the
// timeline) that start in r, counts them by camera and type and returns
// them from skip on, newest first (start, then ID, descending): at least
// size of them, and more when events in the same millisecond as the page's
// first or last one lie beyond it (orderPage sorts those by their exact
// start). The page starts off events into the window.
func (tl *timeline) rank(matches func(each func(id string) error) error, r span, skip, size int) (total uint64, byCam, byType map[string]uint64, window []string, off int, err error) {
	tl.mu.RLock()
	defer tl.mu.RUnlock()
	if tl.dirty {
		return 0, nil, nil, nil, 0, errStalePos
	}
	var pos []int32
	camN := make([]uint64, len(tl.cams))
	typN := make([]uint64, len(tl.types))
	err = matches(func(id string) error {
		p, ok := tl.pos[id]
		if !ok || tl.start[p] < minStartMilli || tl.start[p] > maxStartMilli {
			return errNotInTimeline
		}
		in, err := r.holds(id, tl.start[p])
		if err != nil || !in {
			return err
		}
		pos = append(pos, p)
		camN[tl.cam[p]]++
		typN[tl.typ[p]]++
		return nil
	})
	if err != nil {
		return 0, nil, nil, nil, 0, err
	}
	// Positions ascend with start: descending positions are newest first,
	// up to the order within one millisecond, fixed below.
	slices.Sort(pos)
	slices.Reverse(pos)
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
	return uint64(len(pos)), byCam, byType, window, skip - lo, nil
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

// alignNanos is the grid widen aligns time ranges to: 2^40 ns, about 18
// minutes, a boundary of the date field's coarser prefix terms.
const alignNanos = 1 << 40

// widen returns [from, to) moved out to alignNanos boundaries; a zero
// bound stays zero (open), and a range near the ends of the representable
// times is kept as it is.
func widen(from, to time.Time) (time.Time, time.Time) {
	ok := func(t time.Time) bool { return t.IsZero() || (!t.Before(earliest) && !t.After(latest)) }
	if !ok(from) || !ok(to) {
		return from, to
	}
	if !from.IsZero() {
		n := from.UnixNano()
		from = time.Unix(0, n-n%alignNanos).UTC()
	}
	if !to.IsZero() {
		n := to.UnixNano()
		if r := n % alignNanos; r != 0 {
			n += alignNanos - r
		}
		to = time.Unix(0, n).UTC()
	}
	return from, to
}

// span is a query's exact time range [from, to), zero bounds open.
type span struct {
	from, to time.Time
	// exactStart reads an event's start to the nanosecond, for the few
	// events in the same millisecond as a bound.
	exactStart func(id string) (time.Time, error)
}

// holds reports whether event id, which starts in millisecond ms, starts
// in the span.
func (r span) holds(id string, ms int64) (bool, error) {
	const msNanos = int64(time.Millisecond)
	lo, hi := ms*msNanos, (ms+1)*msNanos // the event starts in [lo, hi)
	exact := false
	if !r.from.IsZero() {
		f := r.from.UnixNano()
		if hi <= f {
			return false, nil
		}
		exact = exact || lo < f
	}
	if !r.to.IsZero() {
		t := r.to.UnixNano()
		if lo >= t {
			return false, nil
		}
		exact = exact || hi > t
	}
	if !exact {
		return true, nil
	}
	s, err := r.exactStart(id)
	if err != nil {
		return false, err
	}
	n := s.UnixNano()
	return (r.from.IsZero() || n >= r.from.UnixNano()) && (r.to.IsZero() || n < r.to.UnixNano()), nil
}
