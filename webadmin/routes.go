package webadmin

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
)

// Who may use a route.
type access int

const (
	// public routes need no login (login, setup, static files, health).
	public access = iota
	// roles lists the roles allowed; no camera involved.
	roles
	// cameraVideo needs a camera (path value or query "camera") the user
	// may view by auth.CanViewCamera.
	cameraVideo
	// cameraVideoList needs 1–32 distinct cameras (query "camera",
	// repeated), every one viewable.
	cameraVideoList
)

// route is one entry of the table. Every handler is reached only through it.
type route struct {
	Method, Pattern string
	Access          access
	Roles           []auth.Role // for roles and cameraVideo (a further limit)
	// Change marks routes that change state: they need the CSRF token.
	Change bool
	// MaxBody bounds the request body (0: 1 MiB).
	MaxBody int64
	// OptionalCamera lets a cameraVideo route (a page) go without a
	// camera; a camera that is named is still checked.
	OptionalCamera bool
	h              func(w http.ResponseWriter, r *http.Request, rc *reqCtx)
}

var (
	everyone     = []auth.Role{auth.Technician, auth.Officer, auth.Household}
	officers     = []auth.Role{auth.Officer}
	staff        = []auth.Role{auth.Technician, auth.Officer}
	technicians  = []auth.Role{auth.Technician}
	videoViewers = []auth.Role{auth.Officer, auth.Household}
)

// reqCtx is what a handler gets after authorization.
type reqCtx struct {
	user    auth.User
	house   *auth.HouseholdInfo
	session auth.Session
	lang    string
	camera  string   // the authorized camera for cameraVideo routes
	cameras []string // the authorized cameras for cameraVideoList routes
}

// videoCameras is the authorized cameras of a route that serves one camera
// (cameraVideo) or a list of them (cameraVideoList): the live views.
func (rc *reqCtx) videoCameras() []string {
	if len(rc.cameras) == 0 {
		return []string{rc.camera}
	}
	return rc.cameras
}

func (s *Server) buildRoutes() {
	s.routes = []route{
		// Public.
		{Method: "GET", Pattern: "/login", Access: public, h: s.loginPage},
		{Method: "POST", Pattern: "/login", Access: public, h: s.loginPost},
		{Method: "GET", Pattern: "/setup", Access: public, h: s.setupPage},
		{Method: "POST", Pattern: "/setup", Access: public, h: s.setupPost},
		{Method: "GET", Pattern: "/lang/{lang}", Access: public, h: s.setLang},
		{Method: "GET", Pattern: "/static/", Access: public, h: s.static},
		{Method: "GET", Pattern: "/favicon.ico", Access: public, h: s.favicon},
		{Method: "GET", Pattern: "/api/health", Access: public, h: s.apiHealth},

		// Pages.
		{Method: "GET", Pattern: "/{$}", Access: roles, Roles: everyone, h: s.homePage},
		{Method: "GET", Pattern: "/live", Access: cameraVideo, OptionalCamera: true, Roles: videoViewers, h: s.page("live")},
		{Method: "GET", Pattern: "/playback", Access: cameraVideo, OptionalCamera: true, Roles: videoViewers, h: s.page("playback")},
		{Method: "GET", Pattern: "/export", Access: roles, Roles: officers, h: s.page("export")},
		{Method: "GET", Pattern: "/search", Access: roles, Roles: officers, h: s.page("search")},
		{Method: "GET", Pattern: "/cameras", Access: roles, Roles: staff, h: s.page("cameras")},
		{Method: "GET", Pattern: "/households", Access: roles, Roles: officers, h: s.page("households")},
		{Method: "GET", Pattern: "/users", Access: roles, Roles: staff, h: s.page("users")},
		{Method: "GET", Pattern: "/system", Access: roles, Roles: staff, h: s.page("system")},
		{Method: "GET", Pattern: "/audit", Access: roles, Roles: staff, h: s.page("audit")},
		{Method: "GET", Pattern: "/account", Access: roles, Roles: everyone, h: s.page("account")},
		{Method: "POST", Pattern: "/logout", Access: roles, Roles: everyone, Change: true, h: s.logoutPost},

		// JSON API.
		{Method: "GET", Pattern: "/api/me", Access: roles, Roles: everyone, h: s.apiMe},
		{Method: "POST", Pattern: "/api/me/password", Access: roles, Roles: everyone, Change: true, h: s.apiOwnPassword},
		{Method: "GET", Pattern: "/api/me/sessions", Access: roles, Roles: everyone, h: s.apiOwnSessions},
		{Method: "POST", Pattern: "/api/me/sessions/end", Access: roles, Roles: everyone, Change: true, h: s.apiEndOwnSession},
		{Method: "GET", Pattern: "/api/cameras", Access: roles, Roles: everyone, h: s.apiCameras},
		{Method: "POST", Pattern: "/api/cameras", Access: roles, Roles: staff, Change: true, h: s.apiCameraPut},
		{Method: "POST", Pattern: "/api/cameras/probe", Access: roles, Roles: staff, Change: true, h: s.apiCameraProbe},
		{Method: "POST", Pattern: "/api/cameras/{camera}/delete", Access: roles, Roles: staff, Change: true, h: s.apiCameraDelete},
		{Method: "POST", Pattern: "/api/cameras/{camera}/camera-password", Access: roles, Roles: staff, Change: true, h: s.apiCameraPassword},
		{Method: "GET", Pattern: "/api/pairing", Access: roles, Roles: staff, h: s.apiPairing},
		{Method: "POST", Pattern: "/api/pairing", Access: roles, Roles: staff, Change: true, h: s.apiPairingSwitch},
		{Method: "POST", Pattern: "/api/pairing/{key}/login", Access: roles, Roles: staff, Change: true, h: s.apiPairingLogin},
		{Method: "POST", Pattern: "/api/pairing/{key}/pair", Access: roles, Roles: officers, Change: true, h: s.apiPairingPair},
		{Method: "POST", Pattern: "/api/pairing/{key}/forget", Access: roles, Roles: staff, Change: true, h: s.apiPairingForget},
		{Method: "GET", Pattern: "/api/live/{camera}", Access: cameraVideo, Roles: videoViewers, h: s.apiLive},
		{Method: "GET", Pattern: "/api/live", Access: cameraVideoList, Roles: videoViewers, h: s.apiLive},
		{Method: "POST", Pattern: "/api/webrtc/{camera}", Access: cameraVideo, Roles: videoViewers, Change: true, h: s.apiLiveRTC},
		{Method: "POST", Pattern: "/api/webrtc", Access: cameraVideoList, Roles: videoViewers, Change: true, h: s.apiLiveRTC},
		{Method: "GET", Pattern: "/api/segments", Access: cameraVideo, Roles: videoViewers, h: s.apiSegments},
		{Method: "GET", Pattern: "/api/recordings/{camera}/{file}", Access: cameraVideo, Roles: videoViewers, h: s.apiRecording},
		{Method: "GET", Pattern: "/api/clips/{camera}", Access: cameraVideo, Roles: videoViewers, h: s.apiClip},
		{Method: "POST", Pattern: "/api/exports", Access: cameraVideo, Roles: officers, Change: true, h: s.apiExport},
		{Method: "GET", Pattern: "/api/exports/{id}/{file}", Access: roles, Roles: officers, h: s.apiExportFile},
		{Method: "GET", Pattern: "/api/exports/progress", Access: roles, Roles: officers, h: s.apiExportProgress},
		{Method: "GET", Pattern: "/api/events", Access: cameraVideo, Roles: videoViewers, h: s.apiCameraEvents},
		{Method: "GET", Pattern: "/api/events/search", Access: roles, Roles: officers, h: s.apiSearch},
		{Method: "GET", Pattern: "/api/households", Access: roles, Roles: officers, h: s.apiHouseholds},
		{Method: "POST", Pattern: "/api/households", Access: roles, Roles: officers, Change: true, h: s.apiHouseholdPut},
		{Method: "POST", Pattern: "/api/households/{id}/grants", Access: roles, Roles: officers, Change: true, h: s.apiGrants},
		{Method: "GET", Pattern: "/api/users", Access: roles, Roles: staff, h: s.apiUsers},
		{Method: "POST", Pattern: "/api/users", Access: roles, Roles: staff, Change: true, h: s.apiUserCreate},
		{Method: "POST", Pattern: "/api/users/{name}/password", Access: roles, Roles: staff, Change: true, h: s.apiUserPassword},
		{Method: "POST", Pattern: "/api/users/{name}/delete", Access: roles, Roles: staff, Change: true, h: s.apiUserDelete},
		{Method: "GET", Pattern: "/api/system", Access: roles, Roles: staff, h: s.apiSystem},
		{Method: "GET", Pattern: boxKeyPath, Access: roles, Roles: staff, h: s.apiBoxKey},
		{Method: "GET", Pattern: "/api/system/network", Access: roles, Roles: technicians, h: s.apiNetwork},
		{Method: "POST", Pattern: "/api/system/network", Access: roles, Roles: technicians, Change: true, h: s.apiNetworkPut},
		{Method: "GET", Pattern: "/api/system/clock", Access: roles, Roles: staff, h: s.apiClock},
		{Method: "POST", Pattern: "/api/system/clock", Access: roles, Roles: staff, Change: true, h: s.apiClockSet},
		{Method: "POST", Pattern: "/api/system/clock/sync", Access: roles, Roles: staff, Change: true, h: s.apiClockSync},
		{Method: "GET", Pattern: "/api/system/district", Access: roles, Roles: technicians, h: s.apiDistrict},
		{Method: "POST", Pattern: "/api/system/district", Access: roles, Roles: technicians, Change: true, h: s.apiDistrictPut},
		// Firmware updates (technicians): state, upload (checked while it
		// arrives, bounded), install (the box reboots into the new slot).
		{Method: "GET", Pattern: "/api/firmware", Access: roles, Roles: technicians, h: s.apiFirmware},
		{Method: "POST", Pattern: "/api/firmware/bundle", Access: roles, Roles: technicians, Change: true, MaxBody: MaxUploadBody, h: s.apiFirmwareBundle},
		{Method: "POST", Pattern: "/api/firmware/install", Access: roles, Roles: technicians, Change: true, h: s.apiFirmwareInstall},
		{Method: "GET", Pattern: "/api/audit", Access: roles, Roles: staff, h: s.apiAudit},
		{Method: "GET", Pattern: "/api/disks", Access: roles, Roles: staff, h: s.apiDisks},
		{Method: "POST", Pattern: "/api/disks/confirm", Access: roles, Roles: technicians, Change: true, h: s.apiDiskConfirm},
		{Method: "POST", Pattern: "/api/disks/forget", Access: roles, Roles: technicians, Change: true, h: s.apiDiskForget},
		{Method: "GET", Pattern: "/api/audit/verify", Access: roles, Roles: staff, h: s.apiAuditVerify},
		{Method: "GET", Pattern: "/api/notices", Access: roles, Roles: officers, h: s.apiNotices},
		{Method: "GET", Pattern: "/api/lights", Access: roles, Roles: staff, h: s.apiLights},
		{Method: "POST", Pattern: "/api/lights", Access: roles, Roles: staff, Change: true, h: s.apiLightsPut},

		// The daemon's diagnostics (no video).
		{Method: "GET", Pattern: "/api/daemon/health", Access: roles, Roles: officers, h: s.apiDaemonHealth},
		{Method: "GET", Pattern: "/api/daemon/cameras", Access: roles, Roles: officers, h: s.apiDaemonCameras},
		{Method: "GET", Pattern: "/api/daemon/segments", Access: roles, Roles: officers, h: s.apiDaemonSegments},
		{Method: "GET", Pattern: "/api/daemon/events", Access: roles, Roles: officers, h: s.apiDaemonEvents},
		{Method: "POST", Pattern: "/notices/{id}/ack", Access: roles, Roles: officers, Change: true, h: s.noticeAck},
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Pattern, s.guard(rt))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.notFound(w, r, s.langOf(r))
	})
}

const sessionCookie = "mt_session"

// guard authenticates and authorizes one request for rt.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &reqCtx{lang: s.langOf(r)}
		limit := rt.MaxBody
		if limit == 0 {
			limit = 1 << 20
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if rt.Access == public {
			rt.h(w, r, rc)
			return
		}
		c, err := r.Cookie(sessionCookie)
		var ok bool
		if err == nil {
			rc.session, rc.user, ok = auth.Resolve(s.sessions, s.store, c.Value)
		}
		if !ok {
			if isAPI(r) {
				s.jsonError(w, rc, http.StatusUnauthorized, "err_login_needed")
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if rc.user.Role == auth.Household {
			rc.house, _ = s.store.Household(rc.user.Household)
		}
		if rt.Change {
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				tok = r.PostFormValue("csrf")
			}
			if !rc.session.CheckCSRF(tok) {
				s.jsonError(w, rc, http.StatusForbidden, "err_csrf")
				return
			}
		}
		if !slices.Contains(rt.Roles, rc.user.Role) {
			s.deny(w, r, rc, "")
			return
		}
		if rt.Access == cameraVideo {
			cam := r.PathValue("camera")
			if cam == "" {
				cam = r.URL.Query().Get("camera")
			}
			if cam == "" && r.Method == "POST" {
				cam = r.PostFormValue("camera")
			}
			if cam != "" || !rt.OptionalCamera {
				if !s.canView(rc, cam) {
					s.deny(w, r, rc, cam)
					return
				}
				rc.camera = cam
			}
		}
		if rt.Access == cameraVideoList {
			cams := r.URL.Query()["camera"]
			if len(cams) == 0 || len(cams) > 32 {
				s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", "camera")
				return
			}
			seen := map[string]bool{}
			for _, cam := range cams {
				if !s.canView(rc, cam) {
					s.deny(w, r, rc, cam)
					return
				}
				if seen[cam] {
					s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", "camera")
					return
				}
				seen[cam] = true
			}
			rc.cameras = cams
		}
		rt.h(w, r, rc)
	})
}

// canView applies the one video rule to a camera ID.
func (s *Server) canView(rc *reqCtx, cam string) bool {
	if !auth.ValidName(cam) {
		return false
	}
	set, ok := s.cams.Get(cam)
	if !ok && !s.cameraRunning(cam) {
		return false
	}
	return auth.CanViewCamera(rc.user, rc.house, auth.Camera{ID: cam, Household: set.Household})
}

func (s *Server) cameraRunning(id string) bool {
	if s.cfg.Cameras == nil {
		return false
	}
	for _, c := range s.cfg.Cameras.CameraStates() {
		if c.ID == id {
			return true
		}
	}
	return false
}

// deny answers 403 and writes the attempt to the audit log: a household
// trying a foreign camera by URL is worth knowing about. Denials are
// aggregated per source, user and minute, a camera that does not exist is
// written as "unknown" and the path is cut at maxDeniedPath, so that
// denied requests cannot fill the disk.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, rc *reqCtx, cam string) {
	path := r.URL.Path
	if len(path) > maxDeniedPath {
		path = path[:maxDeniedPath] + "…"
	}
	s.audit.Deny(s.auditRecord(r, rc, audit.Denied, s.auditCamera(cam), r.Method+" "+path))
	if isAPI(r) {
		s.jsonError(w, rc, http.StatusForbidden, "err_forbidden")
		return
	}
	w.WriteHeader(http.StatusForbidden)
	s.render(w, r, rc, "error", map[string]any{"Message": tr(rc.lang, "err_forbidden")})
}

// maxDeniedPath is how much of a denied request's path the audit log keeps.
const maxDeniedPath = 128

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func (s *Server) auditAppend(r *http.Request, rc *reqCtx, action, cam, detail string) {
	if action == audit.LoginFailed {
		s.loginFails.note(rc.user.Name, clientIP(r), s.now())
		// Anyone can repeat it: one line per source, name and minute.
		s.audit.Aggregate(s.auditRecord(r, rc, action, cam, detail))
		return
	}
	if _, err := s.audit.Append(s.auditRecord(r, rc, action, cam, detail)); err != nil {
		s.log.Error("audit append failed", "err", err)
	}
}

func (s *Server) auditRecord(r *http.Request, rc *reqCtx, action, cam, detail string) audit.Record {
	rec := audit.Record{Actor: rc.user.Name, Role: string(rc.user.Role), Action: action, Camera: cam, Detail: detail}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		rec.IP = host
	}
	return rec
}

// auditCamera is the camera as the audit log writes it: its ID when the
// box has such a camera, "unknown" otherwise (a request names anything).
func (s *Server) auditCamera(cam string) string {
	if cam == "" {
		return ""
	}
	if auth.ValidName(cam) {
		if _, ok := s.cams.Get(cam); ok || s.cameraRunning(cam) {
			return cam
		}
	}
	return "unknown"
}
