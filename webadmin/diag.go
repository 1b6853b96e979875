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

// diagAnswer answers a diagnostics route: 400 for a malformed query
// (bad), 503 when the daemon gave no diagnostics (tests), 404 when answer
// finds nothing, else answer's value.
func (s *Server) diagAnswer(w http.ResponseWriter, bad error, answer func(diag.Source) (any, error)) {
	if bad != nil {
		diagError(w, http.StatusBadRequest, bad)
		return
	}
	if s.cfg.Diag == nil {
		diagError(w, http.StatusServiceUnavailable, errors.New("no daemon diagnostics here"))
		return
	}
	v, err := answer(s.cfg.Diag)
	if err != nil {
		diagError(w, http.StatusNotFound, err)
		return
	}
	diagJSON(w, http.StatusOK, v)
}

// orEmpty makes a nil list an empty one (JSON [] rather than null).
func orEmpty[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

func (s *Server) apiDaemonHealth(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.diagAnswer(w, noParams(r), func(d diag.Source) (any, error) {
		now := s.now()
		out := map[string]any{"status": "ok", "time": now.UTC()}
		if !d.Started().IsZero() {
			out["uptimeSeconds"] = int64(now.Sub(d.Started()).Seconds())
		}
		return out, nil
	})
}

func (s *Server) apiDaemonCameras(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.diagAnswer(w, noParams(r), func(d diag.Source) (any, error) { return orEmpty(d.Cameras()), nil })
}

func (s *Server) apiDaemonSegments(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q, err := ParseRangeQuery(r.URL.RawQuery, s.now(), diag.MaxSegmentRange)
	s.diagAnswer(w, err, func(d diag.Source) (any, error) {
		for _, c := range d.Cameras() {
			if c.Name == q.Camera {
				return orEmpty(d.Segments(q.Camera, q.From, q.To)), nil
			}
		}
		return nil, fmt.Errorf("no camera %q", q.Camera)
	})
}

func (s *Server) apiDaemonEvents(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	limit, err := ParseLimit(r.URL.RawQuery)
	s.diagAnswer(w, err, func(d diag.Source) (any, error) { return orEmpty(d.Recent(limit)), nil })
}

// apiLights answers GET /api/lights with the lights' state.
func (s *Server) apiLights(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.LightsControl == nil {
		diagJSON(w, http.StatusServiceUnavailable, map[string]string{"error": lights.NoGPIO, "mode": "none"})
		return
	}
	diagJSON(w, http.StatusOK, s.cfg.LightsControl.LightsPanel())
}

// apiLightsPut sets the IR mode from {"mode":"on|off|auto"} (JSON) or
// mode=... (form) and answers the new state.
func (s *Server) apiLightsPut(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.LightsControl == nil {
		diagJSON(w, http.StatusServiceUnavailable, map[string]string{"error": lights.NoGPIO, "mode": "none"})
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
