package webadmin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/diag"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/lights"
)

// The daemon's diagnostics (/api/daemon/*, officers: cameras with ingest
// counters, segments with their index entries, recent events; no video)
// and the lights (/api/lights, staff). Their JSON is the daemon API's of
// before (hwtest and daemon/e2e read it): indented, errors as
// {"error": "..."} with 400 for a malformed request, 404 for what does not
// exist, 503 for what the box lacks.

// LightsControl is the lights as /api/lights shows and sets them.
type LightsControl interface {
	LightsPanel() lights.State
	SetIRMode(lights.Mode) error
}

// NoGPIO is the lights' answer on a box without GPIO lines.
const NoGPIO = "không có GPIO / no GPIO"

func diagJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}

func diagError(w http.ResponseWriter, status int, err error) {
	diagJSON(w, status, map[string]string{"error": err.Error()})
}

// diagSource answers 503 when the daemon gave no diagnostics (tests).
func (s *Server) diagSource(w http.ResponseWriter) (diag.Source, bool) {
	if s.cfg.Diag == nil {
		diagError(w, http.StatusServiceUnavailable, errors.New("no daemon diagnostics here"))
		return nil, false
	}
	return s.cfg.Diag, true
}

func (s *Server) apiDaemonHealth(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if err := noParams(r); err != nil {
		diagError(w, http.StatusBadRequest, err)
		return
	}
	now := s.now()
	out := map[string]any{"status": "ok", "time": now.UTC()}
	if d := s.cfg.Diag; d != nil && !d.Started().IsZero() {
		out["uptimeSeconds"] = int64(now.Sub(d.Started()).Seconds())
	}
	diagJSON(w, http.StatusOK, out)
}

func (s *Server) apiDaemonCameras(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if err := noParams(r); err != nil {
		diagError(w, http.StatusBadRequest, err)
		return
	}
	d, ok := s.diagSource(w)
	if !ok {
		return
	}
	cams := d.Cameras()
	if cams == nil {
		cams = []diag.Camera{}
	}
	diagJSON(w, http.StatusOK, cams)
}

func (s *Server) apiDaemonSegments(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q, err := ParseRangeQuery(r.URL.RawQuery, s.now(), diag.MaxSegmentRange)
	if err != nil {
		diagError(w, http.StatusBadRequest, err)
		return
	}
	d, ok := s.diagSource(w)
	if !ok {
		return
	}
	known := false
	for _, c := range d.Cameras() {
		known = known || c.Name == q.Camera
	}
	if !known {
		diagError(w, http.StatusNotFound, fmt.Errorf("no camera %q", q.Camera))
		return
	}
	segs := d.Segments(q.Camera, q.From, q.To)
	if segs == nil {
		segs = []diag.Segment{}
	}
	diagJSON(w, http.StatusOK, segs)
}

func (s *Server) apiDaemonEvents(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	limit, err := ParseLimit(r.URL.RawQuery)
	if err != nil {
		diagError(w, http.StatusBadRequest, err)
		return
	}
	d, ok := s.diagSource(w)
	if !ok {
		return
	}
	evs := d.Recent(limit)
	if evs == nil {
		evs = []events.Event{}
	}
	diagJSON(w, http.StatusOK, evs)
}

// apiLights answers GET /api/lights with the lights' state.
func (s *Server) apiLights(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.LightsControl == nil {
		diagJSON(w, http.StatusServiceUnavailable, map[string]string{"error": NoGPIO, "mode": "none"})
		return
	}
	diagJSON(w, http.StatusOK, s.cfg.LightsControl.LightsPanel())
}

// apiLightsPut sets the IR mode from {"mode":"on|off|auto"} (JSON) or
// mode=... (form) and answers the new state.
func (s *Server) apiLightsPut(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.LightsControl == nil {
		diagJSON(w, http.StatusServiceUnavailable, map[string]string{"error": NoGPIO, "mode": "none"})
		return
	}
	m, err := readLightsMode(r)
	if err == nil {
		err = s.cfg.LightsControl.SetIRMode(m)
	}
	if err != nil {
		diagError(w, http.StatusBadRequest, err)
		return
	}
	s.auditAppend(r, rc, audit.Change, "", "IR lights mode "+string(m))
	diagJSON(w, http.StatusOK, s.cfg.LightsControl.LightsPanel())
}

func readLightsMode(r *http.Request) (lights.Mode, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1024+1))
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if len(body) > 1024 {
		return "", fmt.Errorf("body over 1024 bytes")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var m string
	switch {
	case ct == "application/json" || (ct == "" && strings.HasPrefix(strings.TrimSpace(string(body)), "{")):
		var v struct {
			Mode string `json:"mode"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return "", fmt.Errorf("body is not {\"mode\": ...}: %w", err)
		}
		m = v.Mode
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return "", fmt.Errorf("form: %w", err)
		}
		m = vals.Get("mode")
		if m == "" && r.PostForm != nil { // the guard read the form for its CSRF field
			m = r.PostForm.Get("mode")
		}
		if m == "" {
			m = r.URL.Query().Get("mode")
		}
	}
	return lights.ParseMode(m)
}
