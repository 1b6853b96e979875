package webadmin

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"t": func(lang, key string) string { return tr(lang, key) },
}).ParseFS(templateFS, "templates/*.html"))

type navItem struct {
	Href, Key string
	Roles     []auth.Role
}

var nav = []navItem{
	{"/live", "nav_live", videoViewers},
	{"/playback", "nav_playback", videoViewers},
	{"/export", "nav_export", officers},
	{"/search", "nav_search", officers},
	{"/cameras", "nav_cameras", staff},
	{"/households", "nav_households", officers},
	{"/users", "nav_users", staff},
	{"/system", "nav_system", staff},
	{"/audit", "nav_audit", staff},
	{"/account", "nav_account", everyone},
}

type pageData struct {
	Lang, Page, Path string
	// TZ is the box's time zone (IANA name): the page shows and reads
	// every time in it, whatever zone the phone or PC is set to.
	TZ   string
	User *auth.User
	CSRF string
	Nav  []navItem
	I18N template.JS
	Data map[string]any
	// Notices are shown on every page until the officer acknowledges them.
	Notices []noticeView
	// Asset are the static files' versioned links (see asset.serve).
	Asset map[string]string
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, rc *reqCtx, page string, data map[string]any) {
	pd := pageData{Lang: rc.lang, Page: page, Path: r.URL.Path, Data: data, TZ: s.loc.String(), Asset: s.assetLinks}
	if rc.user.Name != "" {
		u := rc.user
		u.Hash = ""
		pd.User = &u
		pd.CSRF = rc.session.CSRF
		pd.Notices = s.noticeViews(rc)
		for _, n := range nav {
			if slices.Contains(n.Roles, u.Role) {
				pd.Nav = append(pd.Nav, n)
			}
		}
	}
	js := map[string]string{}
	for k, v := range messages {
		if strings.HasPrefix(k, "js_") || strings.HasPrefix(k, "err_") || strings.HasPrefix(k, "role_") {
			js[k] = tr(rc.lang, k)
			_ = v
		}
	}
	b, _ := json.Marshal(js)
	pd.I18N = template.JS(b)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := templates.ExecuteTemplate(w, page+".html", pd); err != nil {
		s.log.Error("render", "page", page, "err", err)
	}
}

func (s *Server) page(name string) func(http.ResponseWriter, *http.Request, *reqCtx) {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
		s.render(w, r, rc, name, nil)
	}
}

func (s *Server) homePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if rc.user.Role == auth.Technician {
		http.Redirect(w, r, "/system", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/live", http.StatusSeeOther)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, lang string) {
	rc := &reqCtx{lang: lang}
	if isAPI(r) {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	w.WriteHeader(http.StatusNotFound)
	s.render(w, r, rc, "error", map[string]any{"Message": tr(lang, "err_not_found")})
}

// --- login, logout, setup ---

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.setup.Active() {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	var data map[string]any
	if r.URL.Query().Get("ended") == "1" { // the page's script sends here on a 401
		data = map[string]any{"Notice": tr(rc.lang, "err_session_ended")}
	}
	s.render(w, r, rc, "login", data)
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return host
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	name := strings.TrimSpace(r.PostFormValue("username"))
	pw := r.PostFormValue("password")
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		s.render(w, r, rc, "login", map[string]any{"Error": msg, "Username": truncate(name, 32)})
	}
	// The gate refuses names that cannot exist before touching the
	// throttle or the hasher, reserves the failure before hashing, and
	// hashes on the bounded pool.
	u, err := s.gate.Check(r.Context(), name, pw, clientIP(r))
	if err != nil {
		if auth.ValidName(name) && (errors.Is(err, auth.ErrBadPassword) || waitChecked(err)) {
			rc.user = auth.User{Name: name}
			s.auditAppend(r, rc, audit.LoginFailed, "", "")
		}
		if status, key, secs, ok := waitStatus(err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			fail(status, fmt.Sprintf(tr(rc.lang, key), secs))
			return
		}
		if !errors.Is(err, auth.ErrBadPassword) && r.Context().Err() == nil {
			s.log.Error("login", "err", err)
		}
		fail(http.StatusUnauthorized, tr(rc.lang, "err_login"))
		return
	}
	remember := r.PostFormValue("remember") == "1"
	se := s.sessions.CreateWith(u.Name, remember, r.UserAgent())
	life := s.sessions.Max
	if remember {
		life = auth.RememberFor
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: se.Token, Path: "/", HttpOnly: true,
		Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: int(life / time.Second)})
	rc.user = u
	s.auditAppend(r, rc, audit.Login, "", "")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// waitStatus maps a refusal with a wait (auth.WaitError) to its answer:
// 503 with Retry-After while the password checks are busy, 429 while the
// user and address are locked.
func waitStatus(err error) (status int, key string, secs int, ok bool) {
	var we *auth.WaitError
	if !errors.As(err, &we) {
		return 0, "", 0, false
	}
	secs = max(int(we.Wait.Seconds()+0.999), 1)
	if errors.Is(err, auth.ErrBusy) {
		return http.StatusServiceUnavailable, "err_busy", secs, true
	}
	return http.StatusTooManyRequests, "err_locked", secs, true
}

// waitChecked reports whether err is a lockout that this attempt's wrong
// password started (it was checked, so it is audited).
func waitChecked(err error) bool {
	var we *auth.WaitError
	return errors.As(err, &we) && we.Checked
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) logoutPost(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.sessions.Delete(rc.session.Token)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteStrictMode})
	s.auditAppend(r, rc, audit.Logout, "", "")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !s.setup.Active() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, rc, "setup", nil)
}

func (s *Server) setupPost(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	name := strings.TrimSpace(r.PostFormValue("username"))
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	fail := func(status int, key string, args ...any) {
		w.WriteHeader(status)
		msg := tr(rc.lang, key)
		if len(args) > 0 {
			msg = fmt.Sprintf(msg, args...)
		}
		s.render(w, r, rc, "setup", map[string]any{"Error": msg, "Username": name})
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if !s.setup.Active() {
		fail(http.StatusConflict, "err_setup_done")
		return
	}
	attempt, wait := s.throttle.Begin(auth.KeyOf("setup", clientIP(r)))
	if attempt == nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		fail(http.StatusTooManyRequests, "err_locked", int(wait.Seconds()+0.999))
		return
	}
	if !s.setup.Check(r.PostFormValue("code")) {
		attempt.Failed()
		rc.user = auth.User{Name: truncate(name, 32)}
		s.auditAppend(r, rc, audit.LoginFailed, "", "setup code")
		fail(http.StatusForbidden, "err_setup_code")
		return
	}
	attempt.Succeeded()
	switch {
	case !auth.ValidName(name):
		fail(http.StatusBadRequest, "err_bad_name")
		return
	case pw != pw2:
		fail(http.StatusBadRequest, "err_password_match")
		return
	case auth.CheckPasswordPolicy(pw) != nil:
		fail(http.StatusBadRequest, "err_weak_password")
		return
	}
	if err := s.store.CreateUser(name, pw, auth.Technician, ""); err != nil {
		if errors.Is(err, auth.ErrBusy) {
			secs := int(auth.BusyRetryAfter / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			fail(http.StatusServiceUnavailable, "err_busy", secs)
			return
		}
		fail(http.StatusInternalServerError, "err_internal", s.internalError(err))
		return
	}
	s.setup.Use()
	rc.user = auth.User{Name: name, Role: auth.Technician}
	s.auditAppend(r, rc, audit.Setup, "", "technician account created")
	w.WriteHeader(http.StatusOK)
	s.render(w, r, rc, "login", map[string]any{"Notice": tr(rc.lang, "setup_done"), "Username": name})
}

// jsonError answers an API error with a message in the user's language.
func (s *Server) jsonError(w http.ResponseWriter, rc *reqCtx, status int, key string, args ...any) {
	if key == "err_internal" {
		args = []any{s.internalError(args...)}
	}
	msg := tr(rc.lang, key)
	if len(args) > 0 {
		msg = fmt.Sprintf(msg, args...)
	}
	writeJSON(w, status, map[string]string{"error": msg, "code": key})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
