// Package api is matthand's diagnostic HTTP API: health, cameras with their
// ingest counters, the segment index and recent events. It serves no video:
// a recording is watched (audited once per viewing) or saved (as a signed,
// audited export) only through the admin page, so no download escapes the
// audit log. It is built from small interfaces so that the daemon wires in
// the real recorder and store, tests wire in fakes, and the web admin can
// wrap the handler with authentication.
//
// Every error is JSON ({"error": "..."}) with a status that says whose
// fault it was: 400 for a malformed request, 404 for something that does
// not exist, 500 for the box's own failures.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// Camera is one camera as the API shows it.
type Camera struct {
	Name string `json:"name"`
	// URL has the user name and password removed.
	URL       string    `json:"url"`
	Codec     string    `json:"codec"`
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	LastError string    `json:"lastError"`
	Width     int       `json:"width,omitempty"`
	Height    int       `json:"height,omitempty"`
	Household string    `json:"household,omitempty"`
	Recording string    `json:"recording,omitempty"`
	// Stats are counters since the daemon started.
	Stats CameraStats `json:"stats"`
}

// CameraStats are a camera's counters.
type CameraStats struct {
	Packets     uint64    `json:"packets"`
	Pictures    uint64    `json:"pictures"`
	KeyFrames   uint64    `json:"keyFrames"`
	VideoBytes  uint64    `json:"videoBytes"`
	Dropped     uint64    `json:"dropped"`
	SinkErrors  uint64    `json:"sinkErrors"`
	Reconnects  uint64    `json:"reconnects"`
	LastPicture time.Time `json:"lastPicture,omitzero"`
}

// Segment is one recorded file.
type Segment struct {
	Camera string    `json:"camera"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Bytes  int64     `json:"bytes"`
	// File is the segment's path below the recordings folder
	// (camera/YYYY-MM-DD/NAME.mp4); the admin page plays it at
	// /api/recordings/<camera>/<NAME.mp4>.
	File string `json:"file"`
	// Recording is true while the recorder still appends to it.
	Recording bool `json:"recording,omitempty"`
}

// Cameras lists the configured cameras.
type Cameras interface {
	Cameras() []Camera
}

// Recordings is the segment index.
type Recordings interface {
	// Segments lists camera's segments overlapping [from, to), oldest first.
	Segments(camera string, from, to time.Time) []Segment
}

// EventLog holds recent events.
type EventLog interface {
	// Recent returns up to limit events, newest first.
	Recent(limit int) []events.Event
}

// Server is the API's dependencies. Nil Log means slog.Default.
type Server struct {
	Cameras    Cameras
	Recordings Recordings
	Events     EventLog
	// Now is the clock for default time ranges; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Started is when the daemon started (for /api/health).
	Started time.Time
}

// Limits on requests.
const (
	MaxSegmentRange = 31 * 24 * time.Hour
	DefaultRange    = time.Hour
	DefaultEvents   = 100
	MaxEvents       = 5000
)

// Handler returns the API's routes under /api/.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.health)
	mux.HandleFunc("GET /api/cameras", s.cameras)
	mux.HandleFunc("GET /api/segments", s.segments)
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	if status >= 500 { // the details (paths) are in the daemon's log, not for the client
		err = errors.New(http.StatusText(status) + ": see the daemon log")
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := noParams(r, nil); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	now := s.Now()
	out := map[string]any{"status": "ok", "time": now.UTC()}
	if !s.Started.IsZero() {
		out["uptimeSeconds"] = int64(now.Sub(s.Started).Seconds())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) cameras(w http.ResponseWriter, r *http.Request) {
	if err := noParams(r, nil); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	cams := s.Cameras.Cameras()
	if cams == nil {
		cams = []Camera{}
	}
	writeJSON(w, http.StatusOK, cams)
}

func (s *Server) knownCamera(name string) bool {
	for _, c := range s.Cameras.Cameras() {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (s *Server) segments(w http.ResponseWriter, r *http.Request) {
	q, err := ParseRangeQuery(r.URL.RawQuery, s.Now(), MaxSegmentRange)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if !s.knownCamera(q.Camera) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no camera %q", q.Camera))
		return
	}
	segs := s.Recordings.Segments(q.Camera, q.From, q.To)
	if segs == nil {
		segs = []Segment{}
	}
	writeJSON(w, http.StatusOK, segs)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	limit, err := ParseLimit(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	evs := s.Events.Recent(limit)
	if evs == nil {
		evs = []events.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
}
