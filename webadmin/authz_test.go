package webadmin

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/audit"

	"github.com/matthan/matthan/daemon/auth"
)

// want is the expected rule of one route, written here independently of the
// route table: a route added to the table without a line here fails.
type want struct {
	roles []auth.Role // roles that may use it (nil: public)
	video bool        // the camera in the request must be viewable
}

var (
	tech, off, hh = auth.Technician, auth.Officer, auth.Household
	anyone        = []auth.Role{tech, off, hh}
)

var expectations = map[string]want{
	"GET /login":                                 {},
	"POST /login":                                {},
	"GET /setup":                                 {},
	"POST /setup":                                {},
	"GET /lang/{lang}":                           {},
	"GET /static/":                               {},
	"GET /favicon.ico":                           {},
	"GET /api/health":                            {},
	"GET /{$}":                                   {roles: anyone},
	"GET /live":                                  {roles: []auth.Role{off, hh}, video: true},
	"GET /playback":                              {roles: []auth.Role{off, hh}, video: true},
	"GET /export":                                {roles: []auth.Role{off}},
	"GET /search":                                {roles: []auth.Role{off}},
	"GET /cameras":                               {roles: []auth.Role{tech, off}},
	"GET /households":                            {roles: []auth.Role{off}},
	"GET /users":                                 {roles: []auth.Role{tech, off}},
	"GET /system":                                {roles: []auth.Role{tech, off}},
	"GET /audit":                                 {roles: []auth.Role{tech, off}},
	"GET /account":                               {roles: anyone},
	"POST /logout":                               {roles: anyone},
	"GET /api/me":                                {roles: anyone},
	"POST /api/me/password":                      {roles: anyone},
	"GET /api/me/sessions":                       {roles: anyone},
	"POST /api/me/sessions/end":                  {roles: anyone},
	"GET /api/cameras":                           {roles: anyone},
	"POST /api/cameras":                          {roles: []auth.Role{tech, off}},
	"POST /api/cameras/probe":                    {roles: []auth.Role{tech, off}},
	"POST /api/cameras/{camera}/delete":          {roles: []auth.Role{tech, off}},
	"GET /api/live/{camera}":                     {roles: []auth.Role{off, hh}, video: true},
	"GET /api/live":                              {roles: []auth.Role{off, hh}, video: true},
	"POST /api/webrtc/{camera}":                  {roles: []auth.Role{off, hh}, video: true},
	"POST /api/webrtc":                           {roles: []auth.Role{off, hh}, video: true},
	"GET /api/segments":                          {roles: []auth.Role{off, hh}, video: true},
	"GET /api/recordings/{camera}/{file}":        {roles: []auth.Role{off, hh}, video: true},
	"GET /api/clips/{camera}":                    {roles: []auth.Role{off, hh}, video: true},
	"POST /api/exports":                          {roles: []auth.Role{off}, video: true},
	"GET /api/exports/{id}/{file}":               {roles: []auth.Role{off}},
	"GET /api/exports/progress":                  {roles: []auth.Role{off}},
	"GET /api/system/network":                    {roles: []auth.Role{tech}},
	"GET /api/system/clock":                      {roles: []auth.Role{tech, off}},
	"POST /api/system/clock":                     {roles: []auth.Role{tech, off}},
	"POST /api/system/clock/sync":                {roles: []auth.Role{tech, off}},
	"POST /api/system/network":                   {roles: []auth.Role{tech}},
	"GET /api/system/district":                   {roles: []auth.Role{tech}},
	"POST /api/system/district":                  {roles: []auth.Role{tech}},
	"GET /api/firmware":                          {roles: []auth.Role{tech}},
	"POST /api/firmware/bundle":                  {roles: []auth.Role{tech}},
	"POST /api/firmware/install":                 {roles: []auth.Role{tech}},
	"GET /api/events":                            {roles: []auth.Role{off, hh}, video: true},
	"GET /api/events/search":                     {roles: []auth.Role{off}},
	"GET /api/households":                        {roles: []auth.Role{off}},
	"POST /api/households":                       {roles: []auth.Role{off}},
	"POST /api/households/{id}/grants":           {roles: []auth.Role{off}},
	"GET /api/users":                             {roles: []auth.Role{tech, off}},
	"POST /api/users":                            {roles: []auth.Role{tech, off}},
	"POST /api/users/{name}/password":            {roles: []auth.Role{tech, off}},
	"POST /api/users/{name}/delete":              {roles: []auth.Role{tech, off}},
	"GET /api/disks":                             {roles: []auth.Role{tech, off}},
	"POST /api/disks/confirm":                    {roles: []auth.Role{tech}},
	"POST /api/disks/forget":                     {roles: []auth.Role{tech}},
	"GET /api/system":                            {roles: []auth.Role{tech, off}},
	"GET /api/system/box-key.pem":                {roles: []auth.Role{tech, off}},
	"GET /api/audit":                             {roles: []auth.Role{tech, off}},
	"GET /api/audit/verify":                      {roles: []auth.Role{tech, off}},
	"GET /api/notices":                           {roles: []auth.Role{off}},
	"POST /notices/{id}/ack":                     {roles: []auth.Role{off}},
	"GET /api/lights":                            {roles: []auth.Role{tech, off}},
	"POST /api/lights":                           {roles: []auth.Role{tech, off}},
	"GET /api/daemon/health":                     {roles: []auth.Role{off}},
	"GET /api/daemon/cameras":                    {roles: []auth.Role{off}},
	"GET /api/daemon/segments":                   {roles: []auth.Role{off}},
	"GET /api/daemon/events":                     {roles: []auth.Role{off}},
	"POST /api/cameras/{camera}/camera-password": {roles: []auth.Role{tech, off}},
	"GET /api/pairing":                           {roles: []auth.Role{tech, off}},
	"POST /api/pairing":                          {roles: []auth.Role{tech, off}},
	"POST /api/pairing/{key}/login":              {roles: []auth.Role{tech, off}},
	"POST /api/pairing/{key}/pair":               {roles: []auth.Role{off}},
	"POST /api/pairing/{key}/forget":             {roles: []auth.Role{tech, off}},
}

// requestFor builds a harmless request for a route: path values filled in,
// the camera named in path or query, bodies that are valid JSON but change
// nothing that other cases need.
func requestFor(rt route, cam string) (path, body, ctype string) {
	path = rt.Pattern
	repl := map[string]string{
		"{$}": "", "{camera}": cam, "{file}": "seg-" + cam + ".mp4", "{lang}": "en",
		"{id}": "nohouse", "{name}": "nobody", "{key}": "nokey",
	}
	if rt.Access != cameraVideo && rt.Access != cameraVideoList {
		repl["{camera}"] = "nocam"
	}
	if strings.HasPrefix(rt.Pattern, "/api/exports/") {
		repl["{id}"], repl["{file}"] = strings.Repeat("0", 32), "manifest.json"
	}
	for k, v := range repl {
		path = strings.ReplaceAll(path, k, v)
	}
	if rt.Pattern == "/static/" {
		path = "/static/app.css"
	}
	q := fmt.Sprintf("camera=%s&from=%d&to=%d", cam, testT0.UnixMilli(), testT0.Add(time.Hour).UnixMilli())
	switch {
	case rt.Pattern == "/api/exports":
		return path, q, "application/x-www-form-urlencoded"
	case rt.Method == "GET":
		return path + "?" + q, "", ""
	case strings.HasPrefix(rt.Pattern, "/api/webrtc"):
		return path + "?camera=" + cam, `{"sdp":""}`, "application/json"
	case rt.Pattern == "/login" || rt.Pattern == "/setup" || rt.Pattern == "/logout":
		return path, "x=1", "application/x-www-form-urlencoded"
	}
	return path, `{}`, "application/json"
}

func TestEveryRouteHasAnExpectation(t *testing.T) {
	env := newTestEnv(t)
	seen := map[string]bool{}
	for _, rt := range env.s.routes {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		w, ok := expectations[key]
		if !ok {
			t.Errorf("route %s has no expectation in authz_test.go: add its rule", key)
			continue
		}
		if (w.roles == nil) != (rt.Access == public) || w.video != (rt.Access == cameraVideo || rt.Access == cameraVideoList) {
			t.Errorf("route %s: table says access %d, test expects %+v", key, rt.Access, w)
		}
	}
	for k := range expectations {
		if !seen[k] {
			t.Errorf("expectation %s names no route", k)
		}
	}
}

// TestAuthorizationMatrix tries every route as every role against an own, a
// granted, a foreign and an ungranted camera, and as nobody.
func TestAuthorizationMatrix(t *testing.T) {
	env := newTestEnv(t)
	users := map[auth.Role]string{tech: "tech", off: "officer", hh: "house1"}
	clients := map[auth.Role]*client{}
	for r, u := range users {
		clients[r] = env.login(u)
	}
	anon := env.login("")
	house1 := auth.User{Name: "house1", Role: hh, Household: "h1"}
	h1, _ := env.s.Store().Household("h1")
	camOwner := map[string]string{"cam1": "h1", "cam2": "h2", "cam3": "", "cam4": ""}
	for _, rt := range env.s.routes {
		key := rt.Method + " " + rt.Pattern
		w := expectations[key]
		if rt.Pattern == "/logout" {
			continue // would end the session the other cases use; covered in TestLogout
		}
		for _, cam := range []string{"cam1", "cam2", "cam3", "cam4"} {
			path, body, ctype := requestFor(rt, cam)
			// Nobody logged in.
			code, _ := anon.do(rt.Method, path, body, ctype)
			if w.roles != nil && code != http.StatusUnauthorized && code != http.StatusSeeOther && code != http.StatusForbidden {
				t.Errorf("%s %s as nobody: status %d, want 401/303", rt.Method, path, code)
			}
			for role, c := range clients {
				allowed := w.roles == nil || slices.Contains(w.roles, role)
				if allowed && w.video {
					// (for the list route, the request names one camera)
					switch role {
					case hh:
						allowed = auth.CanViewCamera(house1, h1, auth.Camera{ID: cam, Household: camOwner[cam]})
					case tech:
						allowed = false
					}
				}
				code, resp := c.do(rt.Method, path, body, ctype)
				denied := code == http.StatusForbidden || code == http.StatusUnauthorized
				if w.roles == nil {
					if code >= 500 {
						t.Errorf("%s %s as %s: status %d", rt.Method, path, role, code)
					}
					continue // public: a wrong password's 401 is no leak
				}
				if allowed && denied {
					t.Errorf("%s %s as %s: status %d, want allowed", rt.Method, path, role, code)
				}
				if !allowed && !denied {
					t.Errorf("LEAK: %s %s as %s: status %d, want 403", rt.Method, path, role, code)
				}
				if role == hh && (strings.Contains(resp, "cam2") || strings.Contains(resp, "cam4") || strings.Contains(resp, "Sân nhà B")) && code < 300 {
					t.Errorf("LEAK: %s %s as household shows a foreign camera: %.300s", rt.Method, path, resp)
				}
			}
		}
	}
	// The household's foreign-camera attempts are in the audit log.
	recs, _ := env.s.audit.Read(auditFilterActor("house1", "denied"), 1000)
	if len(recs) == 0 {
		t.Error("denied attempts of the household were not audited")
	}
}

func auditFilterActor(actor, action string) audit.Filter {
	return audit.Filter{Actor: actor, Action: action}
}

func TestLiveListNeedsEveryCamera(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("house1")
	for _, tt := range []struct {
		q    string
		want int
	}{
		{"camera=cam1&camera=cam3", http.StatusBadRequest}, // allowed; not a WebSocket request
		{"camera=cam1&camera=cam2", http.StatusForbidden},
		{"camera=cam2&camera=cam1", http.StatusForbidden},
		{"camera=cam1&camera=cam1", http.StatusBadRequest},
		{"", http.StatusBadRequest},
		{"camera=cam1&camera=..%2Fx", http.StatusForbidden},
	} {
		if code, _ := c.do("GET", "/api/live?"+tt.q, "", ""); code != tt.want {
			t.Errorf("/api/live?%s as household: %d, want %d", tt.q, code, tt.want)
		}
	}
}
