package app

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/webadmin"
)

// DaemonAPIPrefix is where the recorder's own diagnostic API (daemon/api:
// cameras with ingest counters, segments with their index entries, the
// in-memory event log; no video) is served, for officers only: the admin
// page's session decides who the caller is.
const DaemonAPIPrefix = "/api/daemon/"

// handler is everything the HTTPS listener serves: the admin page for every
// route, and under DaemonAPIPrefix the daemon's diagnostic API behind the
// page's login (officers) — nothing is reachable without logging in but
// /api/health and the login and setup pages.
func handler(wa *webadmin.Server, daemonAPI http.Handler, lightsAPI http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, DaemonAPIPrefix):
			role, status := whoIs(wa, r)
			if status != http.StatusOK {
				http.Error(w, http.StatusText(status), status)
				return
			}
			if role != auth.Officer {
				http.Error(w, "officers only / chỉ dành cho cán bộ", http.StatusForbidden)
				return
			}
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/api/" + strings.TrimPrefix(r.URL.Path, DaemonAPIPrefix)
			r2.URL.RawPath = ""
			daemonAPI.ServeHTTP(w, r2)
		case r.URL.Path == "/api/lights":
			role, status := whoIs(wa, r)
			if status != http.StatusOK {
				http.Error(w, http.StatusText(status), status)
				return
			}
			if role != auth.Officer && role != auth.Technician {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			if r.Method != http.MethodGet && !csrfOK(wa, r) {
				http.Error(w, "CSRF token missing or wrong", http.StatusForbidden)
				return
			}
			if lightsAPI == nil {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusServiceUnavailable)
				json.NewEncoder(w).Encode(map[string]string{"error": NoGPIO, "mode": "none"})
				return
			}
			lightsAPI.ServeHTTP(w, r)
		default:
			wa.ServeHTTP(w, r)
		}
	})
}

// whoIs asks the admin page who sent r (its GET /api/me with r's cookies):
// the role, and 200, or the page's refusal status.
func whoIs(wa *webadmin.Server, r *http.Request) (auth.Role, int) {
	me, status := askMe(wa, r)
	if status != http.StatusOK {
		return "", status
	}
	return me.Role, http.StatusOK
}

type meAnswer struct {
	Role auth.Role `json:"role"`
	CSRF string    `json:"csrf"`
}

func askMe(wa *webadmin.Server, r *http.Request) (meAnswer, int) {
	q, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/api/me", nil)
	if err != nil {
		return meAnswer{}, http.StatusInternalServerError
	}
	q.RemoteAddr = r.RemoteAddr
	q.Host = r.Host
	for _, c := range r.Cookies() {
		q.AddCookie(c)
	}
	rec := &captureWriter{header: http.Header{}, status: http.StatusOK}
	wa.ServeHTTP(rec, q)
	if rec.status != http.StatusOK {
		return meAnswer{}, rec.status
	}
	var me meAnswer
	if err := json.Unmarshal(rec.body.Bytes(), &me); err != nil {
		return meAnswer{}, http.StatusInternalServerError
	}
	return me, http.StatusOK
}

// csrfOK checks the X-CSRF-Token header against the session's token.
func csrfOK(wa *webadmin.Server, r *http.Request) bool {
	me, status := askMe(wa, r)
	tok := r.Header.Get("X-CSRF-Token")
	return status == http.StatusOK && tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(me.CSRF)) == 1
}

// captureWriter keeps a response in memory.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *captureWriter) WriteHeader(s int)           { c.status = s }

// plainHTTP is the plain-HTTP listener's handler: /api/health answers (init
// and the self-test ask it over plain TCP), everything else redirects to
// the HTTPS port.
func plainHTTP(wa http.Handler, httpsPort string) http.Handler {
	redirect := webadmin.RedirectToHTTPS(httpsPort)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/health" && r.Method == http.MethodGet {
			wa.ServeHTTP(w, r)
			return
		}
		redirect.ServeHTTP(w, r)
	})
}
