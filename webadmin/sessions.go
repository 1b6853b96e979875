package webadmin

import (
	"net/http"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
)

// apiOwnSessions lists the user's logged-in devices (the account page),
// this one marked current.
func (s *Server) apiOwnSessions(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	list := s.sessions.List(rc.user.Name)
	if list == nil {
		list = []auth.Info{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": list, "current": rc.session.ID()})
}

// apiEndOwnSession ends one of the user's sessions ({"id": ...}) or all the
// others ({"others": true}); their live streams close with them.
func (s *Server) apiEndOwnSession(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var req struct {
		ID     string `json:"id"`
		Others bool   `json:"others"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	switch {
	case req.Others:
		s.sessions.DeleteUserExcept(rc.user.Name, rc.session.Token)
		s.auditAppend(r, rc, audit.Logout, "", "other devices logged out")
	case req.ID != "" && s.sessions.EndID(rc.user.Name, req.ID):
		s.auditAppend(r, rc, audit.Logout, "", "device "+req.ID+" logged out")
	default:
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "current": req.ID == rc.session.ID()})
}
