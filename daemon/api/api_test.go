package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

type fakeCams []Camera

func (f fakeCams) Cameras() []Camera { return f }

type fakeRec struct {
	dir  string
	segs []Segment
}

func (f *fakeRec) Segments(camera string, from, to time.Time) []Segment {
	var out []Segment
	for _, s := range f.segs {
		if s.Camera == camera && s.End.After(from) && s.Start.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeRec) OpenSegment(file string) (*os.File, Segment, error) {
	for _, s := range f.segs {
		if s.File == file {
			fh, err := os.Open(filepath.Join(f.dir, file))
			return fh, s, err
		}
	}
	return nil, Segment{}, os.ErrNotExist
}

type fakeExport struct{ err error }

func (f fakeExport) Export(_ context.Context, w io.Writer, camera string, from, to time.Time) error {
	if f.err != nil {
		return f.err
	}
	_, err := io.WriteString(w, "MP4:"+camera)
	return err
}

type fakeEvents []events.Event

func (f fakeEvents) Recent(n int) []events.Event { return f[:min(n, len(f))] }

func newTestServer(t *testing.T, exportErr error) http.Handler {
	dir := t.TempDir()
	file := "cam1/2026-11-26/20261126T095000.000Z.mp4"
	if err := os.MkdirAll(filepath.Join(dir, "cam1/2026-11-26"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte("segment-bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file on disk that the index does not know must not be served.
	if err := os.WriteFile(filepath.Join(dir, "cam1/2026-11-26/20261126T090000.000Z.mp4"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Cameras: fakeCams{{Name: "cam1", URL: "rtsp://h/cam1", State: "recording"}, {Name: "cam2", State: "offline"}},
		Recordings: &fakeRec{dir: dir, segs: []Segment{
			{Camera: "cam1", Start: t0.Add(-10 * time.Minute), End: t0.Add(-9 * time.Minute), Bytes: 13, File: file},
		}},
		Exporter: fakeExport{err: exportErr},
		Events:   fakeEvents{{Type: events.CameraOffline, Camera: "cam2", Start: t0}},
		Now:      func() time.Time { return t0 },
	}
	return s.Handler()
}

func TestRoutes(t *testing.T) {
	h := newTestServer(t, nil)
	for _, tt := range []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/api/health", 200, `"status": "ok"`},
		{"/api/health?x=1", 400, `unknown parameter`},
		{"/api/cameras", 200, `"name": "cam1"`},
		{"/api/segments?camera=cam1", 200, `"file": "cam1/2026-11-26/20261126T095000.000Z.mp4"`},
		{"/api/segments?camera=cam1&from=2026-11-26T08:00:00Z&to=2026-11-26T09:00:00Z", 200, `[]`},
		{"/api/segments?camera=cam1&from=2026-11-26T16:45:00%2B07:00&to=2026-11-26T17:00:00%2B07:00", 200, `"bytes": 13`},
		{"/api/segments?camera=nope", 404, `no camera`},
		{"/api/segments", 400, `camera is required`},
		{"/api/segments?camera=cam1&from=yesterday", 400, `RFC 3339`},
		{"/api/segments?camera=cam1&from=2026-11-26T10:00:00Z&to=2026-11-26T09:00:00Z", 400, `must be after`},
		{"/api/segments?camera=cam1&camera=cam2", 400, `given 2 times`},
		{"/api/segments?camera=cam1&form=2026-11-26T10:00:00Z", 400, `unknown parameter \"form\"`},
		{"/api/segments?camera=cam1&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, `longer than the limit`},
		{"/api/segments?camera=%zz", 400, `malformed query`},
		{"/api/recordings/cam1/2026-11-26/20261126T095000.000Z.mp4", 200, `segment-bytes`},
		{"/api/recordings/cam1/2026-11-26/20261126T090000.000Z.mp4", 404, `no segment`},
		// ServeMux redirects to the cleaned path, which is no segment.
		{"/api/recordings/cam1/../../etc/passwd", 307, `/api/etc/passwd`},
		{"/api/recordings/cam1/2026-11-26/..%2f..%2fx.mp4", 400, `not a segment path`},
		{"/api/recordings/cam1%2f..%2f..%2f/etc/passwd", 400, `not a segment path`},
		{"/api/export?camera=cam1&from=2026-11-26T09:45:00Z&to=2026-11-26T09:55:00Z", 200, `MP4:cam1`},
		{"/api/export?camera=cam1&from=2026-11-26T08:00:00Z&to=2026-11-26T09:00:00Z", 404, `no recording`},
		{"/api/export?camera=cam1&from=2026-11-20T08:00:00Z&to=2026-11-26T09:00:00Z", 400, `longer than the limit`},
		{"/api/events", 200, `"type": "camera_offline"`},
		{"/api/events?limit=0", 400, `limit`},
		{"/api/events?limit=abc", 400, `limit`},
		{"/api/nothing", 404, `no API route`},
	} {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			body := rec.Body.String()
			if rec.Code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tt.path, rec.Code, body, tt.wantStatus, tt.wantBody)
			}
			if rec.Code >= 400 && rec.Code != 307 {
				var e struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("error body is not JSON {error}: %q", body)
				}
			}
		})
	}
}

func TestExportHeaders(t *testing.T) {
	h := newTestServer(t, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/export?camera=cam1&from=2026-11-26T09:45:00Z&to=2026-11-26T09:55:00Z", nil))
	if got := rec.Header().Get("Content-Disposition"); got != `attachment; filename="cam1_20261126T094500Z_20261126T095500Z.mp4"` {
		t.Errorf("Content-Disposition = %q", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "video/mp4" {
		t.Errorf("Content-Type = %q", got)
	}
}

func TestExportFailureBeforeData(t *testing.T) {
	h := newTestServer(t, errors.New("disk on fire"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/export?camera=cam1&from=2026-11-26T09:45:00Z&to=2026-11-26T09:55:00Z", nil))
	// The details stay in the log: a 500 names no internals (paths).
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "disk on fire") || !strings.Contains(rec.Body.String(), "daemon log") {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}

func TestParseRangeQueryDefaults(t *testing.T) {
	now := t0
	for _, tt := range []struct {
		q        string
		from, to time.Time
	}{
		{"camera=a", now.Add(-time.Hour), now},
		{"camera=a&to=2026-11-26T09:00:00Z", t0.Add(-2 * time.Hour), t0.Add(-time.Hour)},
		{"camera=a&from=2026-11-26T07:00:00Z", t0.Add(-3 * time.Hour), now},
		{"camera=a&from=2026-11-26T11:00:00Z", t0.Add(time.Hour), t0.Add(2 * time.Hour)},
	} {
		q, err := ParseRangeQuery(tt.q, now, MaxSegmentRange)
		if err != nil {
			t.Fatalf("%s: %v", tt.q, err)
		}
		if !q.From.Equal(tt.from) || !q.To.Equal(tt.to) {
			t.Errorf("%s: got %v..%v, want %v..%v", tt.q, q.From, q.To, tt.from, tt.to)
		}
	}
}

func FuzzParseRangeQuery(f *testing.F) {
	for _, s := range []string{"camera=cam1", "camera=a&from=2026-11-26T07:00:00Z&to=2026-11-26T08:00:00Z",
		"camera=a&from=2026-11-26T07:00:00.123456789%2B07:00", "camera=%zz", "from=&to=&camera=", "camera=a&camera=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseRangeQuery(raw, t0, MaxExportRange)
		if err != nil {
			return
		}
		if !cameraNameRE.MatchString(q.Camera) || !q.To.After(q.From) || q.To.Sub(q.From) > MaxExportRange {
			t.Fatalf("accepted bad query %q: %+v", raw, q)
		}
	})
}

func FuzzParseLimit(f *testing.F) {
	f.Add("limit=10")
	f.Add("limit=-1")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := ParseLimit(raw)
		if err == nil && (n < 1 || n > MaxEvents) {
			t.Fatalf("%q -> %d", raw, n)
		}
	})
}

func FuzzCheckSegmentPath(f *testing.F) {
	f.Add("cam1/2026-11-26/20261126T095000.000Z.mp4")
	f.Add("cam1/../x")
	f.Add("/etc/passwd")
	f.Fuzz(func(t *testing.T, p string) {
		if CheckSegmentPath(p) != nil {
			return
		}
		if strings.Contains(p, "..") || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.Count(p, "/") != 2 {
			t.Fatalf("accepted unsafe path %q", p)
		}
	})
}
