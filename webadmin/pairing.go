package webadmin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/onvif"
	"github.com/matthan/matthan/daemon/pairing"
)

// Pairer is the camera pairing as the page uses it (daemon/pairing.Manager).
type Pairer interface {
	Open() time.Time
	Close()
	Status() pairing.Status
	Login(ctx context.Context, key, user, password, maker string) (pairing.Candidate, error)
	Streams(key string) (main, sub string, err error)
	Pair(ctx context.Context, key string, req pairing.PairRequest) (cameras.Record, error)
	Forget(key string) error
	SetPassword(ctx context.Context, id, newPassword string) error
}

// Previewer shows a new camera on the live page while it is paired
// (app.Core: a live-only camera named pairing.PreviewID(key)).
type Previewer interface {
	Preview(key, main, sub string) (string, error)
	StopPreview(key string)
}

// apiPairing: pairing open or not, until when, and the new cameras.
func (s *Server) apiPairing(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.noPairing(w, rc) {
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Pairing.Status())
}

// apiPairingSwitch opens (for two minutes) or closes pairing: the page's
// "Ghép camera / Pair" switch.
func (s *Server) apiPairingSwitch(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.noPairing(w, rc) {
		return
	}
	var req struct {
		Open bool `json:"open"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if req.Open {
		s.cfg.Pairing.Open()
		s.auditAppend(r, rc, audit.Change, "", "camera pairing opened")
	} else {
		s.cfg.Pairing.Close()
		s.auditAppend(r, rc, audit.Change, "", "camera pairing closed")
	}
	writeJSON(w, http.StatusOK, s.cfg.Pairing.Status())
}

// apiPairingLogin enters a new camera's login: the box asks the camera
// (ONVIF) what it is and where its streams are, then tests the main
// stream (codec and size: the preview).
func (s *Server) apiPairingLogin(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.noPairing(w, rc) {
		return
	}
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
		Maker    string `json:"maker,omitempty"`
	}
	if err := decodeJSON(r, &req); err != nil || len(req.User) > 64 || len(req.Password) > 128 || len(req.Maker) > 64 {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", "user/password")
		return
	}
	key := r.PathValue("key")
	c, err := s.cfg.Pairing.Login(r.Context(), key, req.User, req.Password, req.Maker)
	switch {
	case s.pairError(w, rc, err):
		return
	case err != nil:
		s.log.Info("pairing: camera login", "camera", c.Addr, "state", c.State)
		writeJSON(w, http.StatusOK, map[string]any{"candidate": c, "message": tr(rc.lang, pairStateKey(c.State))})
		return
	}
	out := map[string]any{"candidate": c, "message": tr(rc.lang, pairStateKey(c.State))}
	if main, sub, err := s.cfg.Pairing.Streams(key); err == nil && s.cfg.Previews != nil {
		if id, err := s.cfg.Previews.Preview(key, main, sub); err == nil {
			out["preview"] = id // officers watch it on /api/live/{id}
		}
	}
	if s.cfg.Prober != nil {
		if main, _, err := s.cfg.Pairing.Streams(key); err == nil {
			if res, perr := s.cfg.Prober.Probe(r.Context(), main); perr == nil {
				out["probe"] = res
			} else {
				out["probeError"] = tr(rc.lang, probeErrorKey(perr))
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// pairStateKey is the message for a candidate's state.
func pairStateKey(state string) string {
	switch state {
	case "ready", "known_paths", "wrong_password", "need_password", "timeout", "unreachable", "not_allowed", "too_large", "bad_reply", "no_onvif":
		return "pair_state_" + state
	}
	return "pair_state_error"
}

// apiPairingPair names a new camera, gives it to a household (or makes
// it a road camera) and saves it: from now on it is recorded.
func (s *Server) apiPairingPair(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.noPairing(w, rc) {
		return
	}
	var req pairing.PairRequest
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if req.Household != "" {
		if _, ok := s.store.Household(req.Household); !ok {
			s.jsonError(w, rc, http.StatusBadRequest, "err_no_household")
			return
		}
	}
	key := r.PathValue("key")
	rec, err := s.cfg.Pairing.Pair(r.Context(), key, req)
	if err == nil || errors.Is(err, cameras.ErrNotApplied) {
		s.stopPreview(key)
	}
	switch {
	case s.pairError(w, rc, err):
		return
	case err != nil && !errors.Is(err, cameras.ErrNotApplied):
		// Invalid names come back as a record validation error.
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_name")
		return
	}
	s.auditAppend(r, rc, audit.Change, rec.ID, "camera paired ("+rec.Maker+" "+rec.Model+", MAC "+rec.MAC+")")
	writeJSON(w, http.StatusOK, map[string]any{"camera": rec.WithoutPassword(), "message": tr(rc.lang, "saved")})
}

// apiPairingForget drops a new camera from the list.
func (s *Server) apiPairingForget(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.noPairing(w, rc) {
		return
	}
	s.stopPreview(r.PathValue("key"))
	if s.pairError(w, rc, s.cfg.Pairing.Forget(r.PathValue("key"))) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

// apiCameraPassword changes a paired camera's own password (its factory
// one) through ONVIF SetUser, then the box's record.
func (s *Server) apiCameraPassword(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.noPairing(w, rc) {
		return
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil || len(req.Password) < 8 || len(req.Password) > 64 {
		s.jsonError(w, rc, http.StatusBadRequest, "err_cam_password_len")
		return
	}
	id := r.PathValue("camera")
	err := s.cfg.Pairing.SetPassword(r.Context(), id, req.Password)
	switch {
	case s.pairError(w, rc, err):
		return
	case err != nil && !errors.Is(err, cameras.ErrNotApplied):
		s.log.Info("camera password change failed", "camera", id, "why", onvif.Problem(err))
		s.jsonError(w, rc, http.StatusBadGateway, "err_cam_password", tr(rc.lang, pairStateKey(onvif.Problem(err))))
		return
	}
	s.auditAppend(r, rc, audit.Change, id, "camera password changed on the camera")
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

func (s *Server) stopPreview(key string) {
	if s.cfg.Previews != nil {
		s.cfg.Previews.StopPreview(key)
	}
}

// noPairing answers 503 when the box has no pairing (tests without one).
func (s *Server) noPairing(w http.ResponseWriter, rc *reqCtx) bool {
	if s.cfg.Pairing != nil {
		return false
	}
	s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
	return true
}

// pairErrors are what the page says of the pairing's errors.
var pairErrors = []struct {
	err    error
	status int
	key    string
}{
	{pairing.ErrNoCandidate, http.StatusNotFound, "err_pair_gone"},
	{pairing.ErrTriedLogin, http.StatusConflict, "err_pair_tried"},
	{pairing.ErrNotReady, http.StatusConflict, "err_pair_not_ready"},
	{pairing.ErrHouseholdOrRoad, http.StatusBadRequest, "err_pair_household"},
	{pairing.ErrIDTaken, http.StatusConflict, "err_pair_id_taken"},
	{pairing.ErrNoONVIFAddress, http.StatusConflict, "err_cam_password_no_onvif"},
	{auth.ErrNotFound, http.StatusNotFound, "err_not_found"},
}

// pairError answers err if it is one of pairErrors.
func (s *Server) pairError(w http.ResponseWriter, rc *reqCtx, err error) bool {
	for _, pe := range pairErrors {
		if errors.Is(err, pe.err) {
			s.jsonError(w, rc, pe.status, pe.key)
			return true
		}
	}
	return false
}
