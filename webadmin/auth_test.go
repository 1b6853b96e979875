package webadmin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
)

func (c *client) form(path string, v url.Values) (int, string) {
	c.env.t.Helper()
	return c.do("POST", path, v.Encode(), "application/x-www-form-urlencoded")
}

// Behind one NAT address (every browser under QEMU is 10.0.2.2), one
// household's wrong passwords lock only that household's name: another
// household at the same address still logs in.
func TestLockoutDoesNotSpreadBehindNAT(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("")
	for i := 0; i < 8; i++ {
		c.form("/login", url.Values{"username": {"house1"}, "password": {"wrong-password"}})
	}
	if code, _ := c.form("/login", url.Values{"username": {"house1"}, "password": {testPassword}}); code != http.StatusTooManyRequests {
		t.Errorf("locked household with its right password: %d, want 429", code)
	}
	other := env.login("")
	if code, _ := other.form("/login", url.Values{"username": {"house2"}, "password": {testPassword}}); code != http.StatusSeeOther {
		t.Errorf("another household behind the same address: %d, want 303 (logged in)", code)
	}
}

// 60 parallel wrong passwords for one user from one address: at most 5
// are checked (the failure is reserved before hashing).
func TestParallelWrongLoginsStayWithinTheLimit(t *testing.T) {
	env := newTestEnv(t)
	before := env.s.store.Pool().Stats().Done
	var wg sync.WaitGroup
	codes := make(chan int, 60)
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.PostForm(env.srv.URL+"/login", url.Values{"username": {"officer"}, "password": {"wrong-password"}})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	if n := env.s.store.Pool().Stats().Done - before; n > 5 {
		t.Errorf("%d of 60 parallel wrong passwords were checked, limit 5", n)
	}
	for code := range codes {
		if code != http.StatusUnauthorized && code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
			t.Errorf("answer %d", code)
		}
	}
}

// A flood of logins with many names: never more than 2 hashes at once
// (the pool is instrumented), the overflow refused busy at once.
func TestLoginFloodBoundsHashing(t *testing.T) {
	env := newTestEnv(t)
	// Slow each check down so that the flood overlaps.
	env.s.throttle.GlobalFree, env.s.throttle.GlobalStep = 0, 20*time.Millisecond
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.PostForm(env.srv.URL+"/login", url.Values{"username": {"user" + strings.Repeat("x", i%30)}, "password": {"wrong-password"}})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	st := env.s.store.Pool().Stats()
	if st.Peak > auth.DefaultHashWorkers {
		t.Errorf("%d hashes at once, bound %d", st.Peak, auth.DefaultHashWorkers)
	}
	if codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 in a flood of 300: %v", codes)
	}
	t.Logf("answers %v, pool %+v", codes, st)
}

// Config.OfficerReset (the pairing button held at power-on) is written to
// the audit log when the page starts.
func TestOfficerResetArmingIsAudited(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir(), Console: io.Discard, HashParams: auth.HashParams{Time: 1, Memory: 64, Threads: 1}, OfficerReset: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, _ := s.audit.Read(audit.Filter{Action: audit.Change}, 10)
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, "pairing button held at power-on") || !s.officerReset.Load() {
		t.Errorf("arming not audited: %+v", recs)
	}
}

// With every hashing worker and queue place taken, a login is refused at
// once with 503, Retry-After and a Vietnamese message, not queued forever.
func TestLoginBusyAnswers503(t *testing.T) {
	env := newTestEnv(t)
	release := make(chan struct{})
	defer close(release)
	pool := env.s.store.Pool()
	for i := 0; i < auth.DefaultHashWorkers+auth.DefaultHashQueue; i++ {
		go pool.Do(context.Background(), 0, func() { <-release })
	}
	for pool.Stats().Running < auth.DefaultHashWorkers {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the queued ones take their tickets
	resp, err := http.PostForm(env.srv.URL+"/login", url.Values{"username": {"officer"}, "password": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "Đầu ghi đang bận") {
		t.Errorf("login with the hasher full: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Busy is no failure: the user is not nearer a lockout.
	if n := env.s.throttle.Len(); n != 0 {
		t.Errorf("a busy refusal left %d throttle keys", n)
	}
}

// Technicians see no video, so they never come to hold an officer's
// session: they create the first officer only while none exists; after
// that only officers create officers or reset their passwords.
func TestTechnicianNeverHoldsAnOfficer(t *testing.T) {
	env := newTestEnv(t)
	tech := env.login("tech")
	for _, tt := range []struct{ path, body string }{
		{"/api/users", `{"name":"canbo2","password":"mật-khẩu-mới-dài","role":"officer"}`},
		{"/api/users/officer/password", `{"password":"mật-khẩu-mới-dài"}`},
		{"/api/users/officer/delete", `{}`},
	} {
		if code, body := tech.do("POST", tt.path, tt.body, ""); code != http.StatusForbidden {
			t.Errorf("technician %s: %d %s, want 403", tt.path, code, body)
		}
	}
	if _, ok := env.s.store.User("canbo2"); ok {
		t.Error("technician created an officer while one exists")
	}
	off := env.login("officer")
	if code, body := off.do("POST", "/api/users", `{"name":"canbo2","password":"mật-khẩu-mới-dài","role":"officer"}`, ""); code != 200 {
		t.Errorf("officer creating an officer: %d %s", code, body)
	}
	if code, body := off.do("POST", "/api/users/canbo2/password", `{"password":"mật-khẩu-khác-dài"}`, ""); code != 200 {
		t.Errorf("officer resetting an officer: %d %s", code, body)
	}

	// A box with no officer yet: the technician creates the first, once.
	env2 := newTestEnv(t)
	if err := env2.s.store.DeleteUser("officer"); err != nil {
		t.Fatal(err)
	}
	tech2 := env2.login("tech")
	if code, body := tech2.do("POST", "/api/users", `{"name":"canbo1","password":"mật-khẩu-mới-dài","role":"officer"}`, ""); code != 200 {
		t.Errorf("technician creating the first officer: %d %s", code, body)
	}
	if code, _ := tech2.do("POST", "/api/users", `{"name":"canbo2","password":"mật-khẩu-mới-dài","role":"officer"}`, ""); code != http.StatusForbidden {
		t.Errorf("technician creating a second officer: %d, want 403", code)
	}
}

// The physical reset: the pairing button held at power-on lets the
// technician create one new officer although officers exist. That is
// audited and shown to every officer until each acknowledges it.
func TestPhysicalOfficerReset(t *testing.T) {
	env := newTestEnv(t)
	env.s.officerReset.Store(true) // as New does with Config.OfficerReset
	if err := env.s.store.CreateUser("officer2", testPassword, auth.Officer, ""); err != nil {
		t.Fatal(err)
	}
	tech := env.login("tech")
	if _, body := tech.do("GET", "/api/users", "", ""); !strings.Contains(body, "Nút ghép nối được giữ") {
		t.Errorf("technician's user list does not say the reset is armed: %s", body)
	}
	if code, body := tech.do("POST", "/api/users", `{"name":"canbo-moi","password":"mật-khẩu-mới-dài","role":"officer"}`, ""); code != 200 {
		t.Fatalf("officer after the physical reset: %d %s", code, body)
	}
	if code, _ := tech.do("POST", "/api/users", `{"name":"canbo-moi2","password":"mật-khẩu-mới-dài","role":"officer"}`, ""); code != http.StatusForbidden {
		t.Errorf("second officer on one reset: %d, want 403", code)
	}
	recs, _ := env.s.audit.Read(audit.Filter{Actor: "tech"}, 100)
	found := false
	for _, r := range recs {
		found = found || strings.Contains(r.Detail, "physical officer reset used")
	}
	if !found {
		t.Error("the reset is not in the audit log")
	}
	off, off2 := env.login("officer"), env.login("officer2")
	for _, c := range []*client{off, off2} {
		if _, page := c.do("GET", "/account", "", ""); !strings.Contains(page, `class="error banner"`) || !strings.Contains(page, "canbo-moi") {
			t.Errorf("officer page does not show the reset notice")
		}
	}
	var n struct{ Notices []noticeView }
	_, body := off.do("GET", "/api/notices", "", "")
	json.Unmarshal([]byte(body), &n)
	if len(n.Notices) != 1 {
		t.Fatalf("notices: %s", body)
	}
	if code, _ := off.form("/notices/"+n.Notices[0].ID+"/ack", url.Values{"csrf": {off.csrf}}); code != http.StatusSeeOther {
		t.Errorf("acknowledge: %d", code)
	}
	banner := `id="notice-` + n.Notices[0].ID + `"`
	if _, page := off.do("GET", "/account", "", ""); strings.Contains(page, banner) {
		t.Error("notice still shown after the officer acknowledged it")
	}
	if _, page := off2.do("GET", "/account", "", ""); !strings.Contains(page, banner) {
		t.Error("one officer's acknowledgement hid the notice from another")
	}
}

// Grants are for road cameras only, and die with a change of owner or the
// camera's removal.
func TestGrantsRoadCamerasOnly(t *testing.T) {
	env := newTestEnv(t)
	off := env.login("officer")
	if code, body := off.do("POST", "/api/households/h1/grants", `{"cameras":["cam3","cam2"]}`, ""); code != http.StatusBadRequest || !strings.Contains(body, "cam2") {
		t.Errorf("granting household h2's own camera to h1: %d %s, want 400", code, body)
	}
	if code, _ := off.do("POST", "/api/households/h1/grants", `{"cameras":["nocam"]}`, ""); code != http.StatusBadRequest {
		t.Errorf("granting an unknown camera: %d, want 400", code)
	}
	house1 := env.login("house1")
	if code, _ := house1.do("GET", "/api/segments?camera=cam3&from=0&to=3600000", "", ""); code != 200 {
		t.Fatalf("granted road camera: %d", code)
	}
	// cam3 is reassigned to household h2: h1's grant dies.
	if code, body := off.do("POST", "/api/cameras", `{"id":"cam3","name":"Đường chính","url":"rtsp://127.0.0.1:8554/cam3","household":"h2"}`, ""); code != 200 {
		t.Fatalf("reassign: %d %s", code, body)
	}
	if code, _ := house1.do("GET", "/api/segments?camera=cam3&from=0&to=3600000", "", ""); code != http.StatusForbidden {
		t.Errorf("h1 watching cam3 after it went to h2: %d, want 403", code)
	}
	if _, body := house1.do("GET", "/api/cameras", "", ""); strings.Contains(body, `"cam3"`) {
		t.Errorf("h1 still lists cam3: %s", body)
	}
	if h, _ := env.s.store.Household("h1"); len(h.Grants) != 0 {
		t.Errorf("grants after reassignment: %v", h.Grants)
	}
	// Back to a road camera: the old grant does not come back.
	off.do("POST", "/api/cameras", `{"id":"cam3","name":"Đường chính","url":"rtsp://127.0.0.1:8554/cam3"}`, "")
	if code, _ := house1.do("GET", "/api/segments?camera=cam3&from=0&to=3600000", "", ""); code != http.StatusForbidden {
		t.Errorf("old grant revived: %d, want 403", code)
	}
	// Removal drops grants too.
	off.do("POST", "/api/households/h1/grants", `{"cameras":["cam4"]}`, "")
	if code, body := off.do("POST", "/api/cameras/cam4/delete", `{}`, ""); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if h, _ := env.s.store.Household("h1"); len(h.Grants) != 0 {
		t.Errorf("grants after removal: %v", h.Grants)
	}
	// A stale grant that cleanup missed (written before this fix) still
	// shows nothing of an owned camera.
	if err := env.s.store.SetGrants("h1", []string{"cam2"}); err != nil {
		t.Fatal(err)
	}
	if code, _ := house1.do("GET", "/api/segments?camera=cam2&from=0&to=3600000", "", ""); code != http.StatusForbidden {
		t.Errorf("stale grant of h2's camera: %d, want 403", code)
	}
}

// openLive opens the live WebSocket of cam1 with c's session.
func (c *client) openLive(camera string) *websocket.Conn {
	c.env.t.Helper()
	u, _ := url.Parse(c.env.srv.URL)
	cfg, err := websocket.NewConfig("ws://"+u.Host+"/api/live/"+camera, c.env.srv.URL)
	if err != nil {
		c.env.t.Fatal(err)
	}
	for _, ck := range c.http.Jar.Cookies(u) {
		cfg.Header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		c.env.t.Fatal("open live:", err)
	}
	return ws
}

// waitClosed reports how long after start the server closed ws (reads
// until an error), failing after limit.
func waitClosed(t *testing.T, ws *websocket.Conn, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	ws.SetReadDeadline(start.Add(limit + time.Second))
	var buf [4096]byte
	for {
		if _, err := ws.Read(buf[:]); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Errorf("live stream still open %v after the session ended", time.Since(start))
			}
			break
		}
	}
	d := time.Since(start)
	if d > limit {
		t.Errorf("live stream closed %v after the session ended, want within %v", d, limit)
	}
	return d
}

// Ending a session in any way closes its live streams within 1 s.
func TestSessionEndClosesLiveStreams(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(env *testEnv, c *client)
	}{
		{"logout", func(env *testEnv, c *client) { c.form("/logout", url.Values{"csrf": {c.csrf}}) }},
		{"own password change elsewhere", func(env *testEnv, c *client) {
			other := env.login("house1")
			if code, body := other.do("POST", "/api/me/password", `{"old":"`+testPassword+`","password":"mật-khẩu-mới-dài-2"}`, ""); code != 200 {
				t.Errorf("password change: %d %s", code, body)
			}
		}},
		{"reset by an officer", func(env *testEnv, c *client) {
			env.login("officer").do("POST", "/api/users/house1/password", `{"password":"mật-khẩu-mới-dài-2"}`, "")
		}},
		{"account deleted", func(env *testEnv, c *client) {
			env.login("officer").do("POST", "/api/users/house1/delete", `{}`, "")
		}},
		{"expiry", func(env *testEnv, c *client) { env.s.sessions.SetLimits(time.Millisecond, time.Hour) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			c := env.login("house1")
			ws := c.openLive("cam1")
			defer ws.Close()
			limit := time.Second // expiry is checked every 500 ms
			start := time.Now()
			tt.end(env, c)
			t.Logf("live stream closed %v after the session was ended", waitClosed(t, ws, start, limit))
		})
	}
}

// Changing one's own password: other sessions end, the current one stays;
// a wrong current password is throttled like a login and audited; the new
// password must follow the policy.
func TestOwnPasswordChange(t *testing.T) {
	env := newTestEnv(t)
	a, b := env.login("house1"), env.login("house1")
	if code, _ := a.do("POST", "/api/me/password", `{"old":"`+testPassword+`","password":"12345678"}`, ""); code != http.StatusBadRequest {
		t.Errorf("weak new password: %d, want 400", code)
	}
	codes := []int{}
	for i := 0; i < 6; i++ {
		code, _ := a.do("POST", "/api/me/password", `{"old":"doan-sai-mat-khau","password":"mật-khẩu-mới-dài-2"}`, "")
		codes = append(codes, code)
	}
	if codes[5] != http.StatusTooManyRequests {
		t.Errorf("guessing the current password: answers %v, want 429 at the end", codes)
	}
	recs, _ := env.s.audit.Read(audit.Filter{Actor: "house1", Action: audit.LoginFailed}, 100)
	failed := 0
	for _, r := range recs {
		failed += max(r.Count, 1) // aggregated per source, name and minute
	}
	if failed != 5 {
		t.Errorf("%d wrong current passwords audited, want 5", failed)
	}
	// The lock is per user and address, and every test client is
	// 127.0.0.1: the change itself is tried on a fresh box.
	env = newTestEnv(t)
	a, b = env.login("house1"), env.login("house1")
	c := env.login("house1")
	if code, body := c.do("POST", "/api/me/password", `{"old":"`+testPassword+`","password":"mật-khẩu-mới-dài-2"}`, ""); code != 200 {
		t.Fatalf("change: %d %s", code, body)
	}
	if code, _ := c.do("GET", "/api/me", "", ""); code != 200 {
		t.Error("the session that changed the password was logged out")
	}
	for _, other := range []*client{a, b} {
		if code, _ := other.do("GET", "/api/me", "", ""); code != http.StatusUnauthorized {
			t.Errorf("another session after the password change: %d, want 401", code)
		}
	}
	recs, _ = env.s.audit.Read(audit.Filter{Actor: "house1", Action: audit.Change}, 100)
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, "own password changed") {
		t.Errorf("password change audit: %+v", recs)
	}
	if _, err := env.s.store.Authenticate(context.Background(), "house1", "mật-khẩu-mới-dài-2"); err != nil {
		t.Errorf("new password: %v", err)
	}
	recs, _ = env.s.audit.Read(audit.Filter{Actor: "house1", Action: audit.Change}, 100)
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, "own password changed") {
		t.Errorf("password change audit: %+v", recs)
	}
}

// The policy holds for account creation and for setup.
func TestPasswordPolicyOnCreate(t *testing.T) {
	env := newTestEnv(t)
	off := env.login("officer")
	for _, pw := range []string{"12345678", "          ", "aaaaaaaaaaaa", "1234567890", "password123"} {
		code, body := off.do("POST", "/api/users", `{"name":"nha-c","password":"`+pw+`","role":"household","household":"h1"}`, "")
		if code != http.StatusBadRequest || !strings.Contains(body, "dễ đoán") {
			t.Errorf("password %q: %d %s, want 400", pw, code, body)
		}
	}
}

// After a 401 the page's script goes to the login page, which says why.
func TestLoginPageSaysSessionEnded(t *testing.T) {
	env := newTestEnv(t)
	_, body := env.login("").do("GET", "/login?ended=1", "", "")
	if !strings.Contains(body, "Phiên đăng nhập đã hết, vui lòng đăng nhập lại.") {
		t.Errorf("login page after a 401: %s", body)
	}
}

// TestRememberMeLoginAndDeviceList: "Ghi nhớ đăng nhập" gives a 30-day
// cookie; the account page lists the devices and ends another one (its
// requests are refused at once) or all the others.
func TestRememberMeLoginAndDeviceList(t *testing.T) {
	env := newTestEnv(t)
	jar, _ := cookiejar.New(nil)
	phone := &client{env: env, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := phone.http.PostForm(env.srv.URL+"/login", url.Values{"username": {"officer"}, "password": {testPassword}, "remember": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var maxAge int
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			maxAge = c.MaxAge
		}
	}
	if maxAge != 30*24*3600 {
		t.Errorf("remembered cookie Max-Age %d, want 30 days", maxAge)
	}
	getJSON := func(c *client, path string, v any) int {
		code, body := c.do("GET", path, "", "")
		if v != nil {
			json.Unmarshal([]byte(body), v)
		}
		return code
	}
	postJSON := func(c *client, path string, v any) (int, string) {
		b, _ := json.Marshal(v)
		return c.do("POST", path, string(b), "")
	}
	desk := env.login("officer")
	other := env.login("officer")
	var list struct {
		Sessions []auth.Info `json:"sessions"`
		Current  string      `json:"current"`
	}
	if code := getJSON(desk, "/api/me/sessions", &list); code != http.StatusOK || len(list.Sessions) != 3 || list.Current == "" {
		t.Fatalf("list: %d %+v", code, list)
	}
	remembered := ""
	for _, s := range list.Sessions {
		if s.Remember {
			remembered = s.ID
		}
	}
	if remembered == "" {
		t.Fatalf("no remembered session listed: %+v", list.Sessions)
	}
	if code, body := postJSON(desk, "/api/me/sessions/end", map[string]any{"id": remembered}); code != http.StatusOK {
		t.Fatalf("end the phone's session: %d %s", code, body)
	}
	if code := getJSON(phone, "/api/me", nil); code != http.StatusUnauthorized {
		t.Errorf("ended phone session answered %d", code)
	}
	if code, _ := postJSON(desk, "/api/me/sessions/end", map[string]any{"others": true}); code != http.StatusOK {
		t.Fatal("end the others")
	}
	if code := getJSON(other, "/api/me", nil); code != http.StatusUnauthorized {
		t.Errorf("other session answered %d after 'log out the others'", code)
	}
	if code := getJSON(desk, "/api/me", nil); code != http.StatusOK {
		t.Errorf("own session ended with the others: %d", code)
	}
	// Another user's session cannot be ended by its ID.
	hh := env.login("house1")
	var hl struct {
		Current string `json:"current"`
	}
	getJSON(hh, "/api/me/sessions", &hl)
	if code, _ := postJSON(desk, "/api/me/sessions/end", map[string]any{"id": hl.Current}); code != http.StatusNotFound {
		t.Errorf("ending another user's session: %d, want 404", code)
	}
	if code := getJSON(hh, "/api/me", nil); code != http.StatusOK {
		t.Errorf("household's session ended by an officer's request: %d", code)
	}
}
