package district

import (
	"net"
	"net/http"
	"slices"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
)

// Who may use a route.
type access int

const (
	public access = iota // no login
	roles                // the roles listed
)

// route is one entry of the table; every handler is reached only through it.
type route struct {
	Method, Pattern string
	Access          access
	Roles           []auth.Role
	// Change marks routes that change state: they need the CSRF token.
	Change bool
	h      func(w http.ResponseWriter, r *http.Request, rc *reqCtx)
}

// District roles: a district officer (Officer) sees boxes, events and
// clips and fetches clips; a technician (Technician) manages the accounts.
var (
	everyone    = []auth.Role{auth.Technician, auth.Officer}
	officers    = []auth.Role{auth.Officer}
	technicians = []auth.Role{auth.Technician}
)

type reqCtx struct {
	user    auth.User
	session auth.Session
}

const sessionCookie = "mtd_session"

func (s *Server) buildRoutes() {
	s.routes = []route{
		{Method: "GET", Pattern: "/login", Access: public, h: s.loginPage},
		{Method: "POST", Pattern: "/login", Access: public, h: s.loginPost},
		{Method: "GET", Pattern: "/api/health", Access: public, h: s.apiHealth},

		{Method: "GET", Pattern: "/{$}", Access: roles, Roles: everyone, h: s.boxesPage},
		{Method: "GET", Pattern: "/events", Access: roles, Roles: officers, h: s.eventsPage},
		{Method: "GET", Pattern: "/clips", Access: roles, Roles: officers, h: s.clipsPage},
		{Method: "POST", Pattern: "/clips", Access: roles, Roles: officers, Change: true, h: s.clipFetch},
		{Method: "GET", Pattern: "/clips/{id}/{file}", Access: roles, Roles: officers, h: s.clipFile},
		{Method: "GET", Pattern: "/audit", Access: roles, Roles: everyone, h: s.auditPage},
		{Method: "GET", Pattern: "/users", Access: roles, Roles: technicians, h: s.usersPage},
		{Method: "POST", Pattern: "/users", Access: roles, Roles: technicians, Change: true, h: s.userCreate},
		{Method: "POST", Pattern: "/boxes/trust", Access: roles, Roles: technicians, Change: true, h: s.boxTrust},
		{Method: "POST", Pattern: "/logout", Access: roles, Roles: everyone, Change: true, h: s.logoutPost},
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Pattern, s.guard(rt))
	}
}

// guard authenticates (the session cookie), checks the CSRF token of
// changes and the route's roles; a denial is in the audit log.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &reqCtx{}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if rt.Access == public {
			rt.h(w, r, rc)
			return
		}
		ok := false
		if c, err := r.Cookie(sessionCookie); err == nil {
			rc.session, rc.user, ok = auth.Resolve(s.sessions, s.store, c.Value)
		}
		if !ok {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if rt.Change && !rc.session.CheckCSRF(r.PostFormValue("csrf")) {
			http.Error(w, "CSRF", http.StatusForbidden)
			return
		}
		if !slices.Contains(rt.Roles, rc.user.Role) {
			s.auditAppend(r, rc, audit.Denied, r.Method+" "+clipText(r.URL.Path, 128))
			http.Error(w, "Không được phép / Forbidden", http.StatusForbidden)
			return
		}
		rt.h(w, r, rc)
	})
}

func (s *Server) auditAppend(r *http.Request, rc *reqCtx, action, detail string) {
	rec := audit.Record{Actor: rc.user.Name, Role: string(rc.user.Role), Action: action, Detail: detail}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		rec.IP = host
	}
	if action == audit.LoginFailed || action == audit.Denied {
		s.audit.Aggregate(rec)
		return
	}
	if _, err := s.audit.Append(rec); err != nil {
		s.log.Error("district audit append failed", "err", err)
	}
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
