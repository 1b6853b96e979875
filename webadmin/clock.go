package webadmin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/timesync"
)

// BoxClock is the box's clock discipline (daemon/timesync.Discipline):
// the system page shows its state and source, and an officer or a
// technician may set the time from their phone when no source is trusted.
type BoxClock interface {
	Status() timesync.Status
	SetByOfficer(t time.Time, who string, confirm bool) error
	// Kick asks for a sync now (the uplink was just fixed), without the
	// unsynchronised retry's backoff.
	Kick()
}

// clockView is the clock's state as the page shows it.
type clockView struct {
	timesync.Status
	OffsetMs  int64 `json:"offsetMs"`
	SlewingMs int64 `json:"slewingMs"`
	// CanSet: the page offers setting the time (not in host mode);
	// NeedsConfirm: the clock is synchronised, so setting it overrides a
	// trusted source and needs an explicit confirmation.
	CanSet       bool `json:"canSet"`
	NeedsConfirm bool `json:"needsConfirm"`
}

func viewOf(st timesync.Status) clockView {
	return clockView{Status: st, OffsetMs: st.Offset.Milliseconds(), SlewingMs: st.Slewing.Milliseconds(),
		CanSet: !st.Watching, NeedsConfirm: st.Synced}
}

// The phone's time must be plausible: after the project existed, before
// the NTP era wraps twice.
var (
	minSetTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	maxSetTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

func (s *Server) apiClock(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Clock == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	writeJSON(w, http.StatusOK, viewOf(s.cfg.Clock.Status()))
}

// apiClockSync asks the box to sync with its NTP servers now; the page
// reads the outcome from GET a few seconds later.
func (s *Server) apiClockSync(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Clock == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	s.cfg.Clock.Kick()
	writeJSON(w, http.StatusAccepted, map[string]any{"message": tr(rc.lang, "clock_syncing")})
}

func (s *Server) apiClockSet(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Clock == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	var req struct {
		UnixMs  int64 `json:"unixMs"`
		Confirm bool  `json:"confirm"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	t := time.UnixMilli(req.UnixMs).UTC()
	if t.Before(minSetTime) || t.After(maxSetTime) {
		s.jsonError(w, rc, http.StatusBadRequest, "err_clock_time")
		return
	}
	before := s.cfg.Clock.Status().Now
	err := s.cfg.Clock.SetByOfficer(t, rc.user.Name, req.Confirm)
	switch {
	case errors.Is(err, timesync.ErrSynced):
		s.jsonError(w, rc, http.StatusConflict, "err_clock_synced")
		return
	case errors.Is(err, timesync.ErrBackwards):
		s.jsonError(w, rc, http.StatusBadRequest, "err_clock_back", int(timesync.MaxOfficerBack.Minutes()))
		return
	case errors.Is(err, timesync.ErrWatching):
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	case err != nil:
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	s.auditAppend(r, rc, audit.Change, "", fmt.Sprintf("box clock set from a phone: %s (was %s)",
		t.Format(time.RFC3339), before.UTC().Format(time.RFC3339)))
	writeJSON(w, http.StatusOK, map[string]any{"message": tr(rc.lang, "clock_set"), "clock": viewOf(s.cfg.Clock.Status())})
}
