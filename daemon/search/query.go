package search

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/matthan/matthan/daemon/events"
)

// Paging limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
	// MaxResultWindow bounds page*size: deep pages cost bleve linear time.
	MaxResultWindow = 100000
	maxQueryLen     = 1000
	maxListItems    = 200
)

// Query selects events. Zero fields do not filter.
type Query struct {
	// Text is the words to find ("xe máy", "chuyen dong"): events holding
	// all of them, in any case, with or without diacritics. Text with query
	// syntax in it is a bleve query string, which may also name fields:
	// "camera:cam3 +type:motion score:>0.2".
	Text     string
	From, To time.Time // Start in [From, To)
	Cameras  []string
	Types    []events.Type
	// Allowed, when not nil, restricts the answer to these cameras whatever
	// the other fields say (a household sees only its own cameras). An empty,
	// non-nil list allows nothing.
	Allowed    []string
	Page, Size int // Page counts from 0; Size defaults to DefaultPageSize
}

// Result is one page of events, newest first, with the counts of all
// matching events by camera and by type.
type Result struct {
	Total    uint64            `json:"total"`
	Page     int               `json:"page"`
	Size     int               `json:"size"`
	Events   []events.Event    `json:"events"`
	ByCamera map[string]uint64 `json:"by_camera"`
	ByType   map[string]uint64 `json:"by_type"`
	Took     time.Duration     `json:"took_ns"`
}

func terms(field string, vals []string) query.Query {
	qs := make([]query.Query, 0, len(vals))
	for _, v := range vals {
		t := bleve.NewTermQuery(v)
		t.SetField(field)
		qs = append(qs, t)
	}
	if len(qs) == 1 {
		return qs[0]
	}
	return bleve.NewDisjunctionQuery(qs...)
}

// request turns q into a bleve request. A query string that does not parse
// is an error.
func (q Query) request() (*bleve.SearchRequest, error) {
	if q.Size <= 0 {
		q.Size = DefaultPageSize
	}
	if q.Size > MaxPageSize {
		return nil, fmt.Errorf("page size %d over %d", q.Size, MaxPageSize)
	}
	if q.Page < 0 || (q.Page+1)*q.Size > MaxResultWindow {
		return nil, fmt.Errorf("page %d of size %d is past the first %d results", q.Page, q.Size, MaxResultWindow)
	}
	var must []query.Query
	if s := strings.TrimSpace(q.Text); s != "" && plainWords(s) {
		m := bleve.NewMatchQuery(s)
		m.SetField(fText)
		m.SetOperator(query.MatchQueryOperatorAnd)
		must = append(must, m)
	} else if s != "" {
		qs := bleve.NewQueryStringQuery(s)
		if _, err := qs.Parse(); err != nil {
			return nil, fmt.Errorf("query %q: %w", s, err)
		}
		must = append(must, qs)
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
			return nil, fmt.Errorf("time range from %v to %v is empty", q.From, q.To)
		}
		inc, exc := true, false
		r := bleve.NewDateRangeInclusiveQuery(q.From.UTC(), q.To.UTC(), &inc, &exc)
		r.SetField(fStart)
		must = append(must, r)
	}
	cams := q.cameras()
	if cams != nil && len(cams) == 0 {
		cams = []string{"\x00none"} // nothing allowed: match nothing
	}
	if len(cams) > 0 {
		must = append(must, terms(fCamera, cams))
	}
	if len(q.Types) > 0 {
		ts := make([]string, len(q.Types))
		for i, t := range q.Types {
			ts[i] = string(t)
		}
		must = append(must, terms(fType, ts))
	}
	var qq query.Query = bleve.NewMatchAllQuery()
	switch len(must) {
	case 0:
	case 1:
		qq = must[0]
	default:
		qq = bleve.NewConjunctionQuery(must...)
	}
	req := bleve.NewSearchRequestOptions(qq, q.Size, q.Page*q.Size, false)
	req.SortBy([]string{"-" + fStart, "-_id"})
	req.Fields = []string{fStored}
	req.AddFacet(fCamera, bleve.NewFacetRequest(fCamera, 100))
	req.AddFacet(fType, bleve.NewFacetRequest(fType, 20))
	return req, nil
}

// Search answers q. Events still in the write queue are not seen. Queries
// without free text are answered from the timeline; for free text bleve
// finds the matching events and the timeline orders and counts them
// (see searchText).
func (x *Index) Search(ctx context.Context, q Query) (res *Result, err error) {
	// A segment file damaged inside (bit rot; a power cut truncates or
	// loses files, which Open catches) can make zapx index past a slice.
	defer func() {
		if p := recover(); p != nil {
			x.markBroken(p)
			res, err = nil, fmt.Errorf("search: the index is damaged (%v); it is rebuilt from the event log", p)
		}
	}()
	if strings.TrimSpace(q.Text) == "" {
		return x.searchTimeline(q)
	}
	if x.bleveIndex() == nil {
		return nil, fmt.Errorf("search: %w", ErrUnavailable)
	}
	return x.searchText(ctx, q)
}

func (x *Index) searchTimeline(q Query) (*Result, error) {
	t0 := time.Now()
	if _, err := q.request(); err != nil { // the same validation as bleve's path
		return nil, fmt.Errorf("search: %w", err)
	}
	if q.Size <= 0 {
		q.Size = DefaultPageSize
	}
	total, byCam, byType, ids := x.tl.query(q, q.cameras(), q.Types)
	out := &Result{Total: total, Page: q.Page, Size: q.Size, Events: make([]events.Event, 0, len(ids)), ByCamera: byCam, ByType: byType}
	for _, id := range ids {
		e, ok, err := x.stored(id)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		if ok {
			out.Events = append(out.Events, e)
		}
	}
	out.Took = time.Since(t0)
	return out, nil
}

// cameras is the camera filter after Allowed: nil for any camera.
func (q Query) cameras() []string {
	cams := q.Cameras
	if q.Allowed != nil {
		if len(cams) == 0 {
			cams = q.Allowed
		} else {
			cams = slices.DeleteFunc(slices.Clone(cams), func(c string) bool { return !slices.Contains(q.Allowed, c) })
		}
		if len(cams) == 0 {
			return []string{}
		}
	}
	if len(cams) == 0 {
		return nil
	}
	return cams
}

func (x *Index) searchBleve(ctx context.Context, q Query) (*Result, error) {
	req, err := q.request()
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	idx := x.bleveIndex()
	if idx == nil {
		return nil, fmt.Errorf("search: %w", ErrUnavailable)
	}
	res, err := idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	out := &Result{Total: res.Total, Page: q.Page, Size: req.Size, Events: make([]events.Event, 0, len(res.Hits)),
		ByCamera: map[string]uint64{}, ByType: map[string]uint64{}, Took: res.Took}
	for _, h := range res.Hits {
		s, _ := h.Fields[fStored].(string)
		var e events.Event
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("search: stored event %s: %w", h.ID, err)
		}
		out.Events = append(out.Events, e)
	}
	for name, m := range map[string]map[string]uint64{fCamera: out.ByCamera, fType: out.ByType} {
		if f := res.Facets[name]; f != nil && f.Terms != nil {
			for _, t := range f.Terms.Terms() {
				m[t.Term] = uint64(t.Count)
			}
		}
	}
	return out, nil
}

// ParseQuery reads the parameters of GET /api/events/search: q (query
// string), from and to (RFC 3339 or Unix seconds), camera and type
// (repeated or comma-separated), page (from 0) and size. It does not set
// Allowed.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	for k := range v {
		switch k {
		case "q", "from", "to", "camera", "type", "page", "size":
		default:
			return q, fmt.Errorf("unknown parameter %q", k)
		}
	}
	q.Text = v.Get("q")
	if len(q.Text) > maxQueryLen {
		return q, fmt.Errorf("query longer than %d bytes", maxQueryLen)
	}
	var err error
	if q.From, err = parseTime(v.Get("from")); err != nil {
		return q, fmt.Errorf("from: %w", err)
	}
	if q.To, err = parseTime(v.Get("to")); err != nil {
		return q, fmt.Errorf("to: %w", err)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return q, fmt.Errorf("to (%s) is not after from (%s)", v.Get("to"), v.Get("from"))
	}
	if q.Cameras, err = list(v["camera"], validName); err != nil {
		return q, fmt.Errorf("camera: %w", err)
	}
	types, err := list(v["type"], validType)
	if err != nil {
		return q, fmt.Errorf("type: %w", err)
	}
	for _, t := range types {
		q.Types = append(q.Types, events.Type(t))
	}
	if q.Page, err = parseInt(v.Get("page"), 0, MaxResultWindow); err != nil {
		return q, fmt.Errorf("page: %w", err)
	}
	if q.Size, err = parseInt(v.Get("size"), DefaultPageSize, MaxPageSize); err != nil {
		return q, fmt.Errorf("size: %w", err)
	}
	if q.Size == 0 {
		return q, fmt.Errorf("size: must be at least 1")
	}
	if (q.Page+1)*q.Size > MaxResultWindow {
		return q, fmt.Errorf("page %d of size %d is past the first %d results", q.Page, q.Size, MaxResultWindow)
	}
	if q.Text != "" {
		if _, err := bleve.NewQueryStringQuery(q.Text).Parse(); err != nil {
			return q, fmt.Errorf("q: %w", err)
		}
	}
	return q, nil
}

// earliest and latest bound the times a query may name.
var (
	earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	var t time.Time
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < earliest.Unix() || n > latest.Unix() {
			return t, fmt.Errorf("%d seconds is outside %d..%d", n, earliest.Unix(), latest.Unix())
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
	}
	if t.Before(earliest) || t.After(latest) {
		return time.Time{}, fmt.Errorf("%s is outside %d..%d", s, earliest.Year(), latest.Year())
	}
	return t.UTC(), nil
}

func parseInt(s string, def, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > hi {
		return 0, fmt.Errorf("%q is not a whole number in 0..%d", s, hi)
	}
	return n, nil
}

func list(vals []string, ok func(string) bool) ([]string, error) {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !ok(s) {
				return nil, fmt.Errorf("%q is not a valid name", s)
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
			if len(out) > maxListItems {
				return nil, fmt.Errorf("more than %d names", maxListItems)
			}
		}
	}
	return out, nil
}

// validName accepts camera IDs: letters, digits, '-', '_', '.', up to 64 bytes.
func validName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

var knownTypes = []events.Type{events.CameraOffline, events.CameraOnline, events.DiskLow, events.DiskError,
	events.RetentionPurge, events.Motion, events.SceneChange, events.Tamper, events.Pairing, events.LoginFailures, events.Update}

func validType(s string) bool { return slices.Contains(knownTypes, events.Type(s)) }
