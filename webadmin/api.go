package webadmin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/onvif"
	"github.com/matthan/matthan/daemon/pairing"
)

// decodeJSON reads a JSON body into v, refusing unknown fields and trailing data.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON")
	}
	return nil
}

// parseTime accepts RFC 3339 or Unix milliseconds.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 || ms > 1e14 {
			return time.Time{}, errors.New("time out of range")
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() < 2000 || t.Year() > 2200 {
		return time.Time{}, errors.New("time out of range")
	}
	return t, nil
}

// parseRange reads from/to from the query; at most maxHours apart.
func parseRange(q url.Values, maxHours int) (from, to time.Time, ok bool) {
	from, err1 := parseTime(q.Get("from"))
	to, err2 := parseTime(q.Get("to"))
	if err1 != nil || err2 != nil || !from.Before(to) || to.Sub(from) > time.Duration(maxHours)*time.Hour {
		return from, to, false
	}
	return from, to, true
}

// apiHealth answers init and the self-test. camerasOnline counts the
// cameras whose stream reaches the recorder (ingest state recording;
// a count only, no names: the route is public): a firmware update's trial
// slot is healthy when at least as many are online as before the update
// (firmware/update).
func (s *Server) apiHealth(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	online := 0
	if s.cfg.Cameras != nil {
		for _, st := range s.cfg.Cameras.CameraStates() {
			if st.Online {
				online++
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "setupNeeded": s.setup.Active(), "camerasOnline": online})
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	writeJSON(w, http.StatusOK, map[string]any{"name": rc.user.Name, "role": rc.user.Role, "household": rc.user.Household, "csrf": rc.session.CSRF})
}

type passwordReq struct {
	Old      string `json:"old"`
	Password string `json:"password"`
}

func (s *Server) apiOwnPassword(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var req passwordReq
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if err := auth.CheckPasswordPolicy(req.Password); err != nil {
		s.storeError(w, rc, err)
		return
	}
	// The current password is checked like a login: same throttle (per
	// user and address, reserved before hashing) and the same pool.
	if _, err := s.gate.Check(r.Context(), rc.user.Name, req.Old, clientIP(r)); err != nil {
		if errors.Is(err, auth.ErrBadPassword) || waitChecked(err) {
			s.auditAppend(r, rc, audit.LoginFailed, "", "own password change: wrong current password")
		}
		if status, key, secs, ok := waitStatus(err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.jsonError(w, rc, status, key, secs)
			return
		}
		s.jsonError(w, rc, http.StatusBadRequest, "err_login")
		return
	}
	if err := s.store.SetPassword(rc.user.Name, req.Password); err != nil {
		s.storeError(w, rc, err)
		return
	}
	// Whoever knew the old password is logged out everywhere else.
	s.sessions.DeleteUserExcept(rc.user.Name, rc.session.Token)
	s.auditAppend(r, rc, audit.Change, "", "own password changed; other sessions ended")
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

// storeError maps account-store errors to clear messages.
func (s *Server) storeError(w http.ResponseWriter, rc *reqCtx, err error) {
	switch {
	case errors.Is(err, auth.ErrBadName):
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_name")
	case errors.Is(err, auth.ErrWeakPassword):
		s.jsonError(w, rc, http.StatusBadRequest, "err_weak_password")
	case errors.Is(err, auth.ErrExists):
		s.jsonError(w, rc, http.StatusConflict, "err_exists")
	case errors.Is(err, auth.ErrNotFound):
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
	case errors.Is(err, auth.ErrBusy):
		secs := int(auth.BusyRetryAfter / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_busy", secs)
	default:
		s.log.Error("webadmin store", "err", err)
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
	}
}

// cameraView is a camera as one user may see it.
type cameraView struct {
	CameraState
	Name      string `json:"name"`
	Household string `json:"household,omitempty"`
	Video     bool   `json:"video"` // the user may watch it
	// RecordAudio: the camera's sound is recorded; everyone who sees the
	// camera is told (households included).
	RecordAudio bool            `json:"recordAudio,omitempty"`
	Settings    *CameraSettings `json:"settings,omitempty"`
}

// visibleCameras lists the cameras rc may know about: all for staff, the
// viewable ones for households.
func (s *Server) visibleCameras(rc *reqCtx) []cameraView {
	states := map[string]CameraState{}
	if s.cfg.Cameras != nil {
		for _, st := range s.cfg.Cameras.CameraStates() {
			states[st.ID] = st
		}
	}
	seen := map[string]bool{}
	var out []cameraView
	add := func(id string, set CameraSettings, has bool) {
		if seen[id] {
			return
		}
		seen[id] = true
		video := auth.CanViewCamera(rc.user, rc.house, auth.Camera{ID: id, Household: set.Household})
		if rc.user.Role == auth.Household && !video {
			return
		}
		st := states[id]
		st.ID = id
		v := cameraView{CameraState: st, Name: set.Name, Video: video, RecordAudio: set.RecordAudio}
		if v.Name == "" {
			v.Name = id
		}
		if rc.user.Role != auth.Household {
			v.Household = set.Household
			if has {
				cp := set.WithoutPassword()
				v.Settings = &cp
			}
		}
		out = append(out, v)
	}
	for _, set := range s.cams.List() {
		add(set.ID, set, true)
	}
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if strings.HasPrefix(id, pairing.PreviewPrefix) {
			continue // a new camera's preview while it is paired: not a camera
		}
		add(id, CameraSettings{}, false)
	}
	slices.SortFunc(out, func(a, b cameraView) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *Server) apiCameras(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	writeJSON(w, http.StatusOK, map[string]any{"cameras": s.visibleCameras(rc), "canApply": s.cfg.Applier != nil, "boxRetentionDays": s.cfg.RetentionDays})
}

func (s *Server) apiCameraPut(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var c CameraSettings
	if err := decodeJSON(r, &c); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	old, had := s.cams.Get(c.ID)
	if had {
		c.URL = cameras.KeepPassword(c.URL, old.URL)
		// What the page does not edit: what the camera said of itself.
		c.Maker, c.Model, c.Serial, c.MAC, c.ONVIF, c.Paired = old.Maker, old.Model, old.Serial, old.MAC, old.ONVIF, old.Paired
	}
	// The sub stream (live view): the page's, else the known layout's
	// (Hikvision 101→102, Dahua subtype=0→1, Ezviz main→sub), else the
	// one the camera had, with the main stream's login. (The core asks
	// the camera's ONVIF for one when none is known.)
	switch {
	case c.SubURL != "" && had:
		c.SubURL = cameras.KeepPassword(c.SubURL, old.SubURL)
	case c.SubURL != "":
	default:
		if sub, ok := onvif.SubFromMain(c.URL); ok {
			c.SubURL = sub
		} else if had && old.SubURL != "" {
			c.SubURL = cameras.WithLoginOf(old.SubURL, c.URL)
		}
	}
	c.PasswordSet = false
	if key, ok := c.ValidateFor(s.cfg.CameraPolicy); !ok {
		if key == "err_bad_request" {
			s.jsonError(w, rc, http.StatusBadRequest, key, "mode/pre/post/retention/zones")
			return
		}
		s.jsonError(w, rc, http.StatusBadRequest, key)
		return
	}
	if c.Household != "" {
		if _, ok := s.store.Household(c.Household); !ok {
			s.jsonError(w, rc, http.StatusBadRequest, "err_no_household")
			return
		}
	}
	// The daemon's core saves the record and runs the camera; without
	// one (tests) the page saves it, for the next start.
	var err error
	if s.cfg.Applier != nil {
		err = s.cfg.Applier.ApplyCamera(r.Context(), c)
	} else {
		err = s.cams.Put(c)
	}
	if err != nil && !errors.Is(err, cameras.ErrNotApplied) {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	s.auditAppend(r, rc, audit.Change, c.ID, "camera settings saved")
	s.dropGrantsOf(r, rc, c)
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	msg := tr(rc.lang, "saved_restart")
	if s.cfg.Applier != nil {
		msg = tr(rc.lang, "saved")
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": msg, "applied": s.cfg.Applier != nil})
}

func (s *Server) apiCameraDelete(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := r.PathValue("camera")
	var err error
	if s.cfg.Applier != nil {
		err = s.cfg.Applier.RemoveCamera(r.Context(), id)
	} else {
		err = s.cams.Remove(id)
	}
	if err != nil && !errors.Is(err, cameras.ErrNotApplied) {
		s.storeError(w, rc, err)
		return
	}
	s.auditAppend(r, rc, audit.Change, id, "camera removed")
	s.dropGrantsOf(r, rc, CameraSettings{ID: id, Household: "(removed)"})
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

func (s *Server) apiCameraProbe(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var req struct {
		URL string `json:"url"`
		ID  string `json:"id,omitempty"` // a saved camera: its stored password
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if old, ok := s.cams.Get(req.ID); ok && req.ID != "" {
		req.URL = cameras.KeepPassword(req.URL, old.URL)
	}
	probe := CameraSettings{ID: "probe", Name: "probe", URL: req.URL}
	if key, ok := probe.ValidateFor(s.cfg.CameraPolicy); !ok {
		s.jsonError(w, rc, http.StatusBadRequest, key)
		return
	}
	res, err := s.cfg.Prober.Probe(r.Context(), req.URL)
	if err != nil {
		s.log.Info("camera connection test failed", "err", err)
		s.jsonError(w, rc, http.StatusBadGateway, "err_probe", tr(rc.lang, probeErrorKey(err)))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiSegments(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Segments == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	from, to, ok := parseRange(r.URL.Query(), 24*7)
	if !ok {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_range", 24*7)
		return
	}
	segs, err := s.cfg.Segments.Segments(r.Context(), rc.camera, from, to)
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	if segs == nil {
		segs = []Segment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"camera": rc.camera, "segments": segs})
}

func (s *Server) apiRecording(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Segments == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	file := r.PathValue("file")
	if file == "" || strings.ContainsAny(file, `/\`) || strings.HasPrefix(file, ".") || len(file) > 128 {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	f, mod, err := s.cfg.Segments.OpenSegment(rc.camera, file)
	if err != nil {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	defer f.Close()
	// One audit line per viewing (viewaudit.go), before any byte goes out.
	if s.views.first(rc.session.Token, rc.camera, file, s.now()) {
		s.auditAppend(r, rc, audit.Playback, rc.camera, file)
	}
	if r.URL.Query().Has("from") { // the fragments from a time on (playback.go)
		s.serveFragments(w, r, rc, f, file)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, file, mod, f)
}

func (s *Server) apiCameraEvents(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Search == nil {
		writeJSON(w, http.StatusOK, map[string]any{"events": []any{}, "unavailable": true})
		return
	}
	from, to, ok := parseRange(r.URL.Query(), 24*7)
	if !ok {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_range", 24*7)
		return
	}
	res, err := s.cfg.Search.Search(r.Context(), SearchQuery{From: from, To: to, Cameras: []string{rc.camera}, Size: 500})
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	hits := res.Hits
	if hits == nil {
		hits = nil
	}
	// Belt and braces: never pass on another camera's event.
	out := hits[:0:0]
	for _, e := range hits {
		if e.Camera == rc.camera {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"camera": rc.camera, "events": out})
}

func (s *Server) apiSearch(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Search == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	q := r.URL.Query()
	from, to, ok := parseRange(q, 24*366)
	if !ok {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_range", 24*366)
		return
	}
	text := q.Get("q")
	if len(text) > 500 {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", "q")
		return
	}
	size, _ := strconv.Atoi(q.Get("size"))
	if size <= 0 || size > 200 {
		size = 50
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	if offset < 0 || offset > 10000 {
		offset = 0
	}
	var allowed []string
	for _, c := range s.visibleCameras(rc) {
		if c.Video {
			allowed = append(allowed, c.ID)
		}
	}
	if want := q["camera"]; len(want) > 0 {
		var sel []string
		for _, c := range want {
			if slices.Contains(allowed, c) {
				sel = append(sel, c)
			}
		}
		allowed = sel
	}
	if len(allowed) == 0 {
		writeJSON(w, http.StatusOK, SearchResult{Hits: []eventsEvent{}})
		return
	}
	types := q["type"]
	for _, t := range types {
		if !auth.ValidName(t) {
			s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", "type")
			return
		}
	}
	res, err := s.cfg.Search.Search(r.Context(), SearchQuery{Text: text, From: from, To: to, Cameras: allowed, Types: types, Size: size, Offset: offset})
	if err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if res.Hits == nil {
		res.Hits = []eventsEvent{}
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiHouseholds(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	type hh struct {
		auth.HouseholdInfo
		Cameras []string `json:"cameras"`
		Users   []string `json:"users"`
	}
	var out []hh
	cams := s.cams.List()
	users := s.store.Users()
	for _, h := range s.store.Households() {
		x := hh{HouseholdInfo: h, Cameras: []string{}, Users: []string{}}
		for _, c := range cams {
			if c.Household == h.ID {
				x.Cameras = append(x.Cameras, c.ID)
			}
		}
		for _, u := range users {
			if u.Household == h.ID {
				x.Users = append(x.Users, u.Name)
			}
		}
		if x.Grants == nil {
			x.Grants = []string{}
		}
		out = append(out, x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"households": out})
}

func (s *Server) apiHouseholdPut(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var req struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Address string `json:"address"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if err := s.store.PutHousehold(req.ID, strings.TrimSpace(req.Name), strings.TrimSpace(req.Address)); err != nil {
		s.storeError(w, rc, err)
		return
	}
	s.auditAppend(r, rc, audit.Change, "", "household "+req.ID+" saved")
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

func (s *Server) apiGrants(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var req struct {
		Cameras []string `json:"cameras"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if len(req.Cameras) > 256 {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", "cameras")
		return
	}
	// Only road cameras can be granted: a household's own camera is its
	// own, never another's to watch.
	for _, c := range req.Cameras {
		if !auth.ValidName(c) {
			s.jsonError(w, rc, http.StatusBadRequest, "err_bad_name")
			return
		}
		set, ok := s.cams.Get(c)
		if (!ok && !s.cameraRunning(c)) || set.Household != "" {
			s.jsonError(w, rc, http.StatusBadRequest, "err_not_road", c)
			return
		}
	}
	id := r.PathValue("id")
	if err := s.store.SetGrants(id, req.Cameras); err != nil {
		s.storeError(w, rc, err)
		return
	}
	s.auditAppend(r, rc, audit.Change, "", fmt.Sprintf("household %s grants: %s", id, strings.Join(req.Cameras, ",")))
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

// dropGrantsOf removes the grants naming c once it is no road camera any
// more (it belongs to a household, or was removed): a grant dies with a
// change of owner. auth.CanViewCamera refuses such grants anyway; this
// keeps them from coming back should the camera become a road camera again.
func (s *Server) dropGrantsOf(r *http.Request, rc *reqCtx, c CameraSettings) {
	if c.Household == "" {
		return
	}
	n, err := s.store.DropGrants(c.ID)
	if err != nil {
		s.log.Error("drop grants", "camera", c.ID, "err", err)
		return
	}
	if n > 0 {
		s.auditAppend(r, rc, audit.Change, c.ID, fmt.Sprintf("grants of camera %s dropped from %d households (no longer a road camera)", c.ID, n))
	}
}

// mayManage reports whether actor may reset the password of, or delete,
// accounts of role target: technicians manage technicians; officers manage
// officers and households. A technician never resets or deletes an
// officer, so never comes to hold an officer's session (creating officers:
// mayCreate).
func mayManage(actor auth.Role, target auth.Role) bool {
	switch actor {
	case auth.Technician:
		return target == auth.Technician
	case auth.Officer:
		return target == auth.Officer || target == auth.Household
	}
	return false
}

// mayCreate is mayManage for new accounts, plus: a technician creates the
// first officer while none exists, or one officer after the physical reset
// (viaReset: the pairing button was held at power-on).
func (s *Server) mayCreate(actor, target auth.Role) (ok, viaReset bool) {
	if mayManage(actor, target) {
		return true, false
	}
	if actor == auth.Technician && target == auth.Officer {
		if !s.store.HasRole(auth.Officer) {
			return true, false
		}
		if s.officerReset.Load() {
			return true, true
		}
	}
	return false, false
}

func (s *Server) apiUsers(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	type userView struct {
		Name      string    `json:"name"`
		Role      auth.Role `json:"role"`
		Household string    `json:"household,omitempty"`
		Created   time.Time `json:"created"`
		Manage    bool      `json:"manage"`
	}
	out := []userView{}
	for _, u := range s.store.Users() {
		m := mayManage(rc.user.Role, u.Role)
		if !m && u.Name != rc.user.Name && rc.user.Role != auth.Technician {
			continue
		}
		out = append(out, userView{u.Name, u.Role, u.Household, u.Created, m})
	}
	var creatable []auth.Role
	for _, role := range []auth.Role{auth.Technician, auth.Officer, auth.Household} {
		if ok, _ := s.mayCreate(rc.user.Role, role); ok {
			creatable = append(creatable, role)
		}
	}
	resp := map[string]any{"users": out, "canCreate": creatable}
	if rc.user.Role == auth.Technician && s.officerReset.Load() {
		resp["officerReset"] = tr(rc.lang, "officer_reset_armed")
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) apiUserCreate(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var req struct {
		Name      string    `json:"name"`
		Password  string    `json:"password"`
		Role      auth.Role `json:"role"`
		Household string    `json:"household"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if !req.Role.Valid() {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_role")
		return
	}
	// One creation at a time: "no officer exists yet" and the one-time
	// physical reset must hold until the account is written.
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	ok, viaReset := s.mayCreate(rc.user.Role, req.Role)
	if !ok {
		if rc.user.Role == auth.Technician && req.Role == auth.Officer {
			s.auditAppend(r, rc, audit.Denied, "", "create officer: an officer exists")
			s.jsonError(w, rc, http.StatusForbidden, "err_officer_exists")
			return
		}
		s.deny(w, r, rc, "")
		return
	}
	if req.Role == auth.Household {
		if _, ok := s.store.Household(req.Household); !ok {
			s.jsonError(w, rc, http.StatusBadRequest, "err_no_household")
			return
		}
	}
	if err := s.store.CreateUser(req.Name, req.Password, req.Role, req.Household); err != nil {
		s.storeError(w, rc, err)
		return
	}
	s.auditAppend(r, rc, audit.Change, "", fmt.Sprintf("user %s created (%s %s)", req.Name, req.Role, req.Household))
	if viaReset {
		s.officerReset.Store(false)
		s.auditAppend(r, rc, audit.Change, "", fmt.Sprintf("physical officer reset used: technician %s created officer %s", rc.user.Name, req.Name))
		if _, err := s.store.AddNotice(auth.NoticeOfficerReset, rc.user.Name, req.Name); err != nil {
			s.log.Error("officer reset notice", "err", err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

func (s *Server) targetUser(w http.ResponseWriter, r *http.Request, rc *reqCtx) (auth.User, bool) {
	u, ok := s.store.User(r.PathValue("name"))
	if !ok {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return u, false
	}
	if !mayManage(rc.user.Role, u.Role) {
		s.deny(w, r, rc, "")
		return u, false
	}
	return u, true
}

func (s *Server) apiUserPassword(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var req struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	u, ok := s.targetUser(w, r, rc)
	if !ok {
		return
	}
	if err := s.store.SetPassword(u.Name, req.Password); err != nil {
		s.storeError(w, rc, err)
		return
	}
	s.sessions.DeleteUser(u.Name)
	s.auditAppend(r, rc, audit.Change, "", "password reset for "+u.Name)
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

func (s *Server) apiUserDelete(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	u, ok := s.targetUser(w, r, rc)
	if !ok {
		return
	}
	if u.Name == rc.user.Name {
		s.jsonError(w, rc, http.StatusBadRequest, "err_self_delete")
		return
	}
	if err := s.store.DeleteUser(u.Name); err != nil {
		s.storeError(w, rc, err)
		return
	}
	s.sessions.DeleteUser(u.Name)
	s.auditAppend(r, rc, audit.Change, "", "user deleted: "+u.Name)
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
}

// apiNotices lists the notices the officer has not acknowledged (the
// physical officer resets).
func (s *Server) apiNotices(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	writeJSON(w, http.StatusOK, map[string]any{"notices": s.noticeViews(rc)})
}

type noticeView struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

func (s *Server) noticeViews(rc *reqCtx) []noticeView {
	out := []noticeView{}
	if rc.user.Role != auth.Officer {
		return out
	}
	for _, n := range s.store.Notices(rc.user.Name) {
		out = append(out, noticeView{ID: n.ID, Text: fmt.Sprintf(tr(rc.lang, "notice_officer_reset"), n.Actor, n.Subject, n.Time.Format("2006-01-02 15:04 UTC"))})
	}
	return out
}

// noticeAck records that the officer saw a notice (a form on every page,
// so it works without script) and goes back home.
func (s *Server) noticeAck(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := r.PathValue("id")
	if err := s.store.AckNotice(id, rc.user.Name); err != nil {
		if isAPI(r) {
			s.storeError(w, rc, err)
			return
		}
		s.notFound(w, r, rc.lang)
		return
	}
	s.auditAppend(r, rc, audit.Change, "", "notice acknowledged: "+truncate(id, 32))
	if isAPI(r) {
		writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "saved")})
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) apiSystem(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	out := map[string]any{"certFingerprint": s.cfg.CertFingerprint, "webUptimeSec": s.now().Sub(s.started).Seconds(),
		"boxKeyFingerprint": s.BoxKeyFingerprint(), "boxKeyURL": boxKeyPath, "timeZone": s.loc.String()}
	online, total := 0, 0
	for _, c := range s.visibleCameras(rc) {
		total++
		if c.Online {
			online++
		}
	}
	out["camerasOnline"], out["camerasTotal"] = online, total
	if s.cfg.Stats != nil {
		st := s.cfg.Stats.SystemStats()
		out["stats"] = st
		if d, ok := storageDays(st, s.now()); ok {
			out["daysCapacity"], out["daysRecorded"] = d.capacity, d.held
			if d.events > 0 {
				out["daysEventsOnly"] = d.events
			}
		}
	}
	if s.cfg.Lights != nil {
		out["lights"] = s.cfg.Lights.LightsState()
	}
	if s.cfg.Logs != nil {
		out["logs"] = s.cfg.Logs.LogLines(200)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Camera: q.Get("camera")}
	if v := q.Get("from"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			s.jsonError(w, rc, http.StatusBadRequest, "err_bad_time")
			return
		}
		f.From = t
	}
	if v := q.Get("to"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			s.jsonError(w, rc, http.StatusBadRequest, "err_bad_time")
			return
		}
		f.To = t
	}
	recs, err := s.audit.Read(f, 500)
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
}

func (s *Server) apiAuditVerify(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	v, err := s.audit.Verify()
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

var _ = io.EOF

type days struct{ capacity, events, held float64 }

// storageDays is what the system page says of the disk: the days of video
// it holds at the current rate once full (the disk less what retention
// keeps free), the days of event video only it would hold (the motion
// mode, and what the mixed mode keeps when plain video has gone; 0 until
// an event was recorded), and the days it holds now (since the oldest
// recording kept), not the disk's use divided by the rate. ok is false
// until the rate is measured.
func storageDays(st SystemStats, now time.Time) (days, bool) {
	if st.BytesPerDay <= 0 {
		return days{}, false
	}
	room := max(st.DiskTotal-st.DiskFloor, 0)
	var d days
	if !st.Oldest.IsZero() && now.After(st.Oldest) {
		d.held = now.Sub(st.Oldest).Hours() / 24
	}
	d.capacity = float64(room) / st.BytesPerDay
	if st.EventShare > 0 {
		d.events = d.capacity / min(st.EventShare, 1)
	}
	return d, true
}
