package district

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/federation"
	"github.com/matthan/matthan/daemon/search"
)

func (s *Server) render(w http.ResponseWriter, name string, rc *reqCtx, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["User"] = rc.user
	data["CSRF"] = rc.session.CSRF
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.tmpl.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("district page: template", "page", name, "err", err)
	}
}

func (s *Server) apiHealth(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.render(w, "login.html", rc, nil)
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	host, _, _ := strings.Cut(r.RemoteAddr, ":")
	u, err := s.gate.Check(r.Context(), name, pw, host)
	if err != nil {
		rc.user.Name = clipText(name, 64)
		s.auditAppend(r, rc, audit.LoginFailed, "")
		var we *auth.WaitError
		msg := "Sai tên hoặc mật khẩu / Wrong name or password"
		if errors.As(err, &we) {
			msg = fmt.Sprintf("Thử lại sau %v / Try again in %v", we.Wait.Round(time.Second), we.Wait.Round(time.Second))
		}
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, "login.html", rc, map[string]any{"Error": msg})
		return
	}
	se := s.sessions.Create(u.Name)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: se.Token, Path: "/", HttpOnly: true, Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteStrictMode})
	rc.user = u
	s.auditAppend(r, rc, audit.Login, "")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logoutPost(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.sessions.Delete(rc.session.Token)
	s.auditAppend(r, rc, audit.Logout, "")
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) boxesPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.render(w, "boxes.html", rc, map[string]any{"Boxes": s.cfg.Core.Boxes(), "Key": s.cfg.Core.PublicKey()})
}

// eventsPage searches the events of every box: words (with or without
// diacritics), a box, a time range.
func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	sq := search.Query{Text: clipText(q.Get("q"), 200), Size: 50}
	if p, err := parseInt(q.Get("page")); err == nil {
		sq.Page = min(p, 100)
	}
	if box := q.Get("box"); box != "" && federation.ValidBoxID(box) {
		sq.Cameras = s.camerasOf(box)
		if len(sq.Cameras) == 0 {
			sq.Cameras = []string{box + ".-"} // none
		}
	}
	if from, err := time.ParseInLocation("2006-01-02T15:04", q.Get("from"), s.loc); err == nil {
		sq.From = from
	}
	if to, err := time.ParseInLocation("2006-01-02T15:04", q.Get("to"), s.loc); err == nil {
		sq.To = to
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	res, err := s.cfg.Index.Search(ctx, sq)
	data := map[string]any{"Q": q.Get("q"), "Box": q.Get("box"), "From": q.Get("from"), "To": q.Get("to"), "Boxes": s.cfg.Core.Boxes()}
	if err != nil {
		data["Error"] = err.Error()
	} else {
		data["Result"] = res
	}
	s.render(w, "events.html", rc, data)
}

// camerasOf lists box's cameras as the district index names them.
func (s *Server) camerasOf(box string) []string {
	var out []string
	for _, b := range s.cfg.Core.Boxes() {
		if b.Box == box {
			for _, c := range b.Health.Cameras {
				out = append(out, box+"."+c.ID)
			}
		}
	}
	return out
}

func parseInt(s string) (int, error) {
	var n int
	_, err := fmt.Sscanf(s, "%d", &n)
	if n < 0 {
		return 0, errors.New("negative")
	}
	return n, err
}

func (s *Server) clipsPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.render(w, "clips.html", rc, s.clipsData(""))
}

// clipFetch asks a box for a clip in the background (a fetch over a slow
// commune link takes minutes); the clips page shows it under way, then
// the clip verified, or why it failed.
func (s *Server) clipFetch(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	box, cam := r.PostFormValue("box"), r.PostFormValue("camera")
	from, err1 := time.ParseInLocation("2006-01-02T15:04", r.PostFormValue("from"), s.loc)
	to, err2 := time.ParseInLocation("2006-01-02T15:04", r.PostFormValue("to"), s.loc)
	if !federation.ValidBoxID(box) || !auth.ValidName(cam) || err1 != nil || err2 != nil || !to.After(from) || to.Sub(from) > federation.MaxClipRange {
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, "clips.html", rc, s.clipsData("Yêu cầu không hợp lệ (đầu ghi, camera, thời gian tối đa 6 giờ) / Invalid request (box, camera, at most 6 hours)"))
		return
	}
	detail := fmt.Sprintf("box=%s camera=%s %s..%s", box, cam, from.Format(time.RFC3339), to.Format(time.RFC3339))
	f := &fetch{Officer: rc.user.Name, Box: box, Camera: cam, From: from, To: to, Started: time.Now()}
	if !s.fetches.add(f) {
		w.WriteHeader(http.StatusTooManyRequests)
		s.render(w, "clips.html", rc, s.clipsData("Đang lấy quá nhiều video, hãy chờ / Too many fetches under way, wait"))
		return
	}
	s.auditAppend(r, rc, "fetch_request", detail)
	audit := *rc
	req := r.Clone(context.Background())
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.FetchTimeout)
		defer cancel()
		fc, err := s.cfg.Core.FetchClip(ctx, f.Officer, box, cam, from, to)
		if err != nil {
			s.auditAppend(req, &audit, "fetch_failed", detail+": "+clipText(err.Error(), 200))
		} else {
			s.auditAppend(req, &audit, "fetch", fmt.Sprintf("%s id=%s sha256=%s verified=%v", detail, fc.ID, fc.Manifest.SHA256, fc.Report.OK()))
		}
		s.fetches.done(f, err)
	}()
	http.Redirect(w, r, "/clips", http.StatusSeeOther)
}

func (s *Server) clipsData(errMsg string) map[string]any {
	d := map[string]any{"Clips": s.cfg.Core.Clips(), "Boxes": s.cfg.Core.Boxes(), "Fetches": s.fetches.list()}
	if errMsg != "" {
		d["Error"] = errMsg
	}
	return d
}

var clipIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// clipFile downloads a fetched clip, its manifest or its signature.
func (s *Server) clipFile(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id, file := r.PathValue("id"), r.PathValue("file")
	if !clipIDRE.MatchString(id) {
		http.NotFound(w, r)
		return
	}
	var fc *federation.FetchedClip
	for _, c := range s.cfg.Core.Clips() {
		if c.ID == id {
			fc = &c
			break
		}
	}
	if fc == nil || (file != fc.File && file != "manifest.json" && file != "manifest.sig") {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(fc.Dir, file))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	s.auditAppend(r, rc, audit.Download, fmt.Sprintf("box=%s id=%s file=%s", fc.Box, id, file))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, file))
	http.ServeContent(w, r, file, st.ModTime(), f)
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	recs, err := s.audit.Read(audit.Filter{}, 200)
	data := map[string]any{"Records": recs}
	if err != nil {
		data["Error"] = err.Error()
	}
	s.render(w, "audit.html", rc, data)
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.render(w, "users.html", rc, map[string]any{"Users": s.store.Users()})
}

func (s *Server) userCreate(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	role := auth.Role(r.PostFormValue("role"))
	if role != auth.Officer && role != auth.Technician {
		role = auth.Officer
	}
	data := map[string]any{}
	err := auth.CheckPasswordPolicy(pw)
	if err == nil {
		err = s.store.CreateUser(name, pw, role, "")
	}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		data["Error"] = err.Error()
	} else {
		s.auditAppend(r, rc, audit.Change, fmt.Sprintf("account %s created (%s)", name, role))
		data["Saved"] = name
	}
	data["Users"] = s.store.Users()
	s.render(w, "users.html", rc, data)
}

// boxTrust sets the fingerprint of a box's evidence key, read from the
// box's system page (instead of the first one the district saw).
func (s *Server) boxTrust(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	box, fp := r.PostFormValue("box"), strings.TrimSpace(r.PostFormValue("fingerprint"))
	if err := s.cfg.Core.Trust(box, fp); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.auditAppend(r, rc, audit.Change, fmt.Sprintf("box %s evidence key %s", box, fp))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
