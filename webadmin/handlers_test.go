package webadmin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/evidence"
)

func TestFirstBootSetup(t *testing.T) {
	dir := t.TempDir()
	var console strings.Builder
	s, err := New(Config{DataDir: dir, Console: &console, HashParams: auth.HashParams{Time: 1, Memory: 64, Threads: 1}, InsecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	b, err := os.ReadFile(SetupCodePath(dir))
	if err != nil {
		t.Fatal("no setup code file:", err)
	}
	code := strings.TrimSpace(string(b))
	if !strings.Contains(console.String(), code) {
		t.Error("setup code not printed on the console")
	}
	env := &testEnv{t: t, s: s, srv: srv, dir: dir}
	c := env.login("")
	// Before setup, the login page sends to setup.
	req, _ := http.NewRequest("GET", srv.URL+"/login", nil)
	resp, _ := c.http.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
		t.Errorf("login before setup: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := func(code, user, pw, pw2 string) (int, string) {
		return c.do("POST", "/setup", url.Values{"code": {code}, "username": {user}, "password": {pw}, "password2": {pw2}}.Encode(), "application/x-www-form-urlencoded")
	}
	for _, tt := range []struct {
		code, user, pw, pw2 string
		status              int
		msg                 string
	}{
		{"AAAA-BBBB-CCCC", "tech", "long password", "long password", 403, "Mã cài đặt không đúng"},
		{code, "x", "long password", "long password", 400, "Tên chỉ gồm"},
		{code, "tech", "long password", "other password", 400, "không khớp"},
		{code, "tech", "short", "short", 400, "ít nhất 10"},
		{code, "tech", "12345678", "12345678", 400, "ít nhất 10"},
		{code, "tech", "1234567890", "1234567890", 400, "phổ biến"},
	} {
		status, body := form(tt.code, tt.user, tt.pw, tt.pw2)
		if status != tt.status || !strings.Contains(body, tt.msg) {
			t.Errorf("setup %+v: %d, want %d with %q", tt, status, tt.status, tt.msg)
		}
	}
	if !s.store.NeedsSetup() {
		t.Fatal("a refused setup created an account")
	}
	if status, _ := form(code, "tech", "long password", "long password"); status != 200 {
		t.Fatalf("setup with the right code: %d", status)
	}
	if s.store.NeedsSetup() {
		t.Fatal("setup did not create the technician")
	}
	if _, err := os.Stat(SetupCodePath(dir)); !os.IsNotExist(err) {
		t.Error("setup code file remains after use")
	}
	if status, _ := form(code, "tech2", "long password", "long password"); status != http.StatusConflict {
		t.Errorf("second setup: %d, want 409", status)
	}
	if u, ok := s.store.User("tech"); !ok || u.Role != auth.Technician {
		t.Errorf("user after setup: %+v", u)
	}
}

func TestLoginThrottleAndAudit(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("")
	try := func(pw string) int {
		code, _ := c.do("POST", "/login", url.Values{"username": {"officer"}, "password": {pw}}.Encode(), "application/x-www-form-urlencoded")
		return code
	}
	for i := 0; i < 4; i++ {
		if code := try("wrong"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, code)
		}
	}
	if code := try("wrong"); code != http.StatusTooManyRequests {
		t.Fatalf("5th failure: %d, want 429", code)
	}
	// Locked: even the right password waits.
	if code := try(testPassword); code != http.StatusTooManyRequests {
		t.Errorf("right password during lockout: %d, want 429", code)
	}
	recs, _ := env.s.audit.Read(auditFilterActor("officer", "login_failed"), 100)
	n := 0
	for _, r := range recs {
		n += max(r.Count, 1) // aggregated per source, name and minute
	}
	if n != 5 {
		t.Errorf("%d failed logins audited, want 5", n)
	}
}

func TestCookiesAndSecurityHeaders(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{DataDir: dir, Console: io.Discard, HashParams: auth.HashParams{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.store.CreateUser("tech", testPassword, auth.Technician, "")
	s.setup.Use()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"username": {"tech"}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	Harden(s, 0).ServeHTTP(rec, req) // the headers are the listener's middleware's
	ck := rec.Result().Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || !ck[0].Secure || ck[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict", ck)
	}
	h := rec.Header()
	for k, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
	} {
		if !strings.Contains(h.Get(k), want) {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
}

func TestChangesNeedCSRF(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("officer")
	token := c.csrf
	c.csrf = ""
	before := env.accountsFile()
	code, body := c.do("POST", "/api/households", `{"id":"h9","name":"Nhà mới"}`, "")
	if code != http.StatusForbidden || !strings.Contains(body, "tải lại trang") {
		t.Errorf("change without CSRF: %d %s", code, body)
	}
	c.csrf = "forged"
	if code, _ := c.do("POST", "/api/households", `{"id":"h9","name":"Nhà mới"}`, ""); code != http.StatusForbidden {
		t.Errorf("change with a forged CSRF token: %d", code)
	}
	if env.accountsFile() != before {
		t.Error("a refused change changed the accounts")
	}
	c.csrf = token
	if code, body := c.do("POST", "/api/households", `{"id":"h9","name":"Nhà mới"}`, ""); code != 200 {
		t.Errorf("change with CSRF: %d %s", code, body)
	}
}

func TestMessagesInUsersLanguage(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("officer")
	_, vi := c.do("POST", "/api/users", `{"name":"x","password":"long password","role":"household","household":"h1"}`, "")
	u, _ := url.Parse(env.srv.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "mt_lang", Value: "en"}})
	_, en := c.do("POST", "/api/users", `{"name":"x","password":"long password","role":"household","household":"h1"}`, "")
	if !strings.Contains(vi, "Tên chỉ gồm") || !strings.Contains(en, "Names are") {
		t.Errorf("vi: %s\nen: %s", vi, en)
	}
}

func TestRoleLimitsOnUserManagement(t *testing.T) {
	env := newTestEnv(t)
	off := env.login("officer")
	if code, _ := off.do("POST", "/api/users", `{"name":"tech2","password":"long password","role":"technician"}`, ""); code != http.StatusForbidden {
		t.Errorf("officer creating a technician: %d, want 403", code)
	}
	if code, _ := off.do("POST", "/api/users/tech/password", `{"password":"new long password"}`, ""); code != http.StatusForbidden {
		t.Errorf("officer resetting the technician's password: %d, want 403", code)
	}
	if code, _ := off.do("POST", "/api/users/house2/password", `{"password":"new long password"}`, ""); code != 200 {
		t.Errorf("officer resetting a household password: %d", code)
	}
	tech := env.login("tech")
	if code, _ := tech.do("POST", "/api/users", `{"name":"nha-c","password":"long password","role":"household","household":"h1"}`, ""); code != http.StatusForbidden {
		t.Errorf("technician creating a household user: %d, want 403", code)
	}
	// An officer exists: only officers create officers (TestTechnicianNeverHoldsAnOfficer).
	if code, _ := tech.do("POST", "/api/users", `{"name":"canbo2","password":"long password","role":"officer"}`, ""); code != http.StatusForbidden {
		t.Errorf("technician creating an officer while one exists: %d, want 403", code)
	}
	if code, _ := tech.do("POST", "/api/users", `{"name":"tech2","password":"long password","role":"technician"}`, ""); code != 200 {
		t.Errorf("technician creating a technician: %d", code)
	}
}

func TestExportIsSignedAndAudited(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("officer")
	code, res, body := c.export("cam1", testT0, testT0.Add(5*time.Minute))
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	code, video := c.do("GET", res.Video, "", "")
	if code != 200 || !strings.HasPrefix(video, "mp4 of cam1") {
		t.Fatalf("video download: %d %q", code, video)
	}
	_, mj := c.do("GET", res.ManifestURL, "", "")
	// Checked against the key the system page publishes, never the one the
	// manifest names.
	_, sys := c.do("GET", "/api/system", "", "")
	var pub struct{ BoxKeyFingerprint, BoxKeyURL string }
	json.Unmarshal([]byte(sys), &pub)
	trust, err := evidence.TrustFingerprint(pub.BoxKeyFingerprint)
	if err != nil || pub.BoxKeyFingerprint != env.s.BoxKeyFingerprint() {
		t.Fatalf("system page fingerprint %q: %v", pub.BoxKeyFingerprint, err)
	}
	rep, err := evidence.Verify([]byte(mj), []byte(res.Signature), strings.NewReader(video), trust)
	m := rep.Manifest
	if err != nil || m.Camera != "cam1" || m.ExportedBy != "officer" || m.Bytes != int64(len(video)) {
		t.Errorf("manifest %+v: %v", m, err)
	}
	if _, err := evidence.Verify([]byte(strings.Replace(mj, "cam1", "cam2", 1)), []byte(res.Signature), strings.NewReader(video), trust); err == nil {
		t.Error("altered manifest verifies")
	}
	flipped := []byte(video)
	flipped[3] ^= 1
	if _, err := evidence.Verify([]byte(mj), []byte(res.Signature), bytes.NewReader(flipped), trust); !errors.Is(err, evidence.ErrClipHash) {
		t.Errorf("flipped byte: %v", err)
	}
	// The public key the page offers is the trusted key.
	code, pemText := c.do("GET", pub.BoxKeyURL, "", "")
	if k, err := evidence.ParsePublicKey([]byte(pemText)); code != 200 || err != nil || !evidence.TrustKey(k).Trusts(k) || evidence.Fingerprint(k) != pub.BoxKeyFingerprint {
		t.Errorf("box key download: %d %v %q", code, err, pemText)
	}
	recs, _ := env.s.audit.Read(auditFilterActor("officer", "export"), 10)
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, m.SHA256) {
		t.Fatalf("export audit: %+v", recs)
	}
	if m.AuditSeq != recs[0].Seq || m.Audit.Seq < recs[0].Seq || m.Audit.Hash == "" {
		t.Errorf("manifest audit %d %+v, export record %d", m.AuditSeq, m.Audit, recs[0].Seq)
	}
	// Too long a range is refused with a message.
	if code, _, body := c.export("cam1", testT0, testT0.Add(24*time.Hour)); code != 400 || !strings.Contains(body, "tối đa 6 giờ") {
		t.Errorf("long export: %d %s", code, body)
	}
}

// TestExportStatesWhatTheFileHolds: the manifest lists the intervals the
// exporter wrote and the gaps, in the box's zone; a range with no
// recording is an error, not an empty signed file.
func TestExportStatesWhatTheFileHolds(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("officer")
	export := func(from, to time.Time) (int, evidence.Manifest, string) {
		code, res, body := c.export("cam1", from, to)
		return code, res.Manifest, body
	}
	// Recording began at testT0-1h: asking from testT0-70m leaves 10 min
	// out at the start, and the hole at testT0+2m is a second gap.
	code, m, body := export(testT0.Add(-70*time.Minute), testT0.Add(5*time.Minute))
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	ict := time.FixedZone("", 7*3600)
	wantIv := []evidence.Interval{{From: fakeRecorded.From, To: fakeHole.From}, {From: fakeHole.To, To: testT0.Add(5 * time.Minute)}}
	wantGaps := []evidence.Interval{{From: testT0.Add(-70 * time.Minute), To: fakeRecorded.From}, fakeHole}
	same := func(a, b []evidence.Interval) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !a[i].From.Equal(b[i].From) || !a[i].To.Equal(b[i].To) {
				return false
			}
		}
		return true
	}
	if !same(m.Intervals, wantIv) || !same(m.Gaps, wantGaps) {
		t.Errorf("intervals %v gaps %v, want %v and %v", m.Intervals, m.Gaps, wantIv, wantGaps)
	}
	// The first half hour was recorded before the box's clock was
	// synchronised: the manifest says so.
	if !same(m.ClockUnsynced, []evidence.Interval{fakeUnsynced}) {
		t.Errorf("clockUnsynced %v, want %v", m.ClockUnsynced, fakeUnsynced)
	}
	if _, m2, _ := export(testT0, testT0.Add(time.Minute)); m2.ClockUnsynced != nil || strings.Contains(body, "clockUnsynced\":[]") {
		t.Errorf("a clip recorded with a synchronised clock lists %v", m2.ClockUnsynced)
	}
	if !strings.Contains(body, `"from":"`+fakeHole.To.In(ict).Format("2006-01-02T15:04:05")+`+07:00"`) || m.TimeZone != "Asia/Ho_Chi_Minh" {
		t.Errorf("manifest times not in the box's zone (+07:00): %s", body)
	}
	// Nothing recorded in the range: 404, no export left behind.
	before, _ := os.ReadDir(env.s.exportDir)
	if code, _, body := export(testT0.Add(-3*time.Hour), testT0.Add(-2*time.Hour)); code != http.StatusNotFound || !strings.Contains(body, "Không có đoạn ghi") {
		t.Errorf("export of nothing: %d %s", code, body)
	}
	if after, _ := os.ReadDir(env.s.exportDir); len(after) != len(before) {
		t.Errorf("export of nothing left %d folders, had %d", len(after), len(before))
	}
}

// TestPlaybackIsAuditedOncePerViewing: any first request of a session for
// a recording writes the audit line — also a range that does not start at
// byte 0 — and the player's further range requests do not.
func TestPlaybackIsAuditedOncePerViewing(t *testing.T) {
	env := newTestEnv(t)
	count := func() int {
		recs, _ := env.s.audit.Read(auditFilterActor("officer", "playback"), 100)
		return len(recs)
	}
	get := func(c *client, rng string) int {
		req, _ := http.NewRequest("GET", env.srv.URL+"/api/recordings/cam1/seg-cam1.mp4", nil)
		req.Header.Set("Range", rng)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	a := env.login("officer")
	if code := get(a, "bytes=1-"); code != http.StatusPartialContent || count() != 1 {
		t.Fatalf("download from byte 1: %d, %d audit lines, want 1", code, count())
	}
	get(a, "bytes=0-")
	get(a, "bytes=5-9")
	if count() != 1 {
		t.Errorf("range requests of one viewing wrote %d lines, want 1", count())
	}
	b := env.login("officer")
	get(b, "bytes=3-")
	if count() != 2 {
		t.Errorf("a second session's viewing: %d lines, want 2", count())
	}
	now := time.Now()
	env.s.now = func() time.Time { return now.Add(ViewAuditEvery + time.Minute) }
	get(b, "bytes=3-")
	if count() != 3 {
		t.Errorf("a viewing after %v: %d lines, want 3", ViewAuditEvery, count())
	}
}

func TestCertificateMadeOnceWithFingerprint(t *testing.T) {
	dir := t.TempDir()
	_, fp1, err := LoadOrCreateCert(dir, []string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	_, fp2, err := LoadOrCreateCert(dir, nil)
	if err != nil || fp1 != fp2 || len(fp1) != 95 {
		t.Errorf("fingerprints %q %q (%v)", fp1, fp2, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "key.pem")); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode().Perm())
	}
}

// FuzzChangeRequests sends malformed bodies to every change route as an
// officer and a technician: never a 5xx, and a refused request leaves the
// accounts and camera settings as they were.
func FuzzChangeRequests(f *testing.F) {
	f.Add(0, `{"id":"h1","name":"x"}`)
	f.Add(1, `{"name":"a","password":"12345678","role":"household","household":"h1"}`)
	f.Add(2, `{"cameras":["cam3","../x"]}`)
	f.Add(3, `{"id":"cam9","name":"n","url":"rtsp://1.2.3.4/","zones":[{"kind":"zone","X0":-1}]}`)
	f.Add(4, `[1,2,3]`)
	f.Add(5, "{\"password\":\"\xff\xfe\"}")
	f.Add(6, `{"id":"x"}{"id":"y"}`)
	env := newFuzzWorld(f)
	f.Fuzz(func(t *testing.T, which int, body string) {
		env.t = t
		var changes []route
		for _, rt := range env.s.routes {
			if rt.Change && rt.Pattern != "/logout" {
				changes = append(changes, rt)
			}
		}
		rt := changes[(which%len(changes)+len(changes))%len(changes)]
		path := strings.NewReplacer("{camera}", "cam1", "{id}", "h1", "{name}", "house2").Replace(rt.Pattern)
		for _, user := range []string{"officer", "tech"} {
			c := env.clients[user]
			before := env.accountsFile() + env.camerasFile()
			code, resp := c.do("POST", path, body, "")
			if code >= 500 && !strings.Contains(resp, "Không kết nối được camera") && !strings.Contains(resp, `"err_cam_password"`) {
				t.Fatalf("%s %s as %s: %d %s", path, body, user, code, resp)
			}
			if code != 200 && env.accountsFile()+env.camerasFile() != before {
				t.Fatalf("%s %q as %s refused (%d) but changed data", path, body, user, code)
			}
		}
	})
}

// FuzzPublicAndQueryInput sends malformed login/setup forms and malformed
// query strings to every GET route: never a 5xx, never a change of accounts.
func FuzzPublicAndQueryInput(f *testing.F) {
	f.Add(0, "username=officer&password=x")
	f.Add(1, "code=%ZZ&username=a&password=b&password2=b")
	f.Add(2, "camera=cam1&from=1795687200000&to=1795690800000")
	f.Add(3, "camera=cam1&from=2026-13-45T99:00:00Z&to=-1")
	f.Add(4, "q=%22unclosed&from=0&to=99999999999999999999&size=-5&offset=1e9&type=../x")
	f.Add(5, "camera=cam1&camera=cam1&stream=sub")
	env := newFuzzWorld(f)
	f.Fuzz(func(t *testing.T, which int, input string) {
		env.t = t
		var gets []route
		for _, rt := range env.s.routes {
			if rt.Method == "GET" {
				gets = append(gets, rt)
			}
		}
		before := env.accountsFile()
		c := env.clients["officer"]
		switch which % 3 {
		case 0:
			if code, resp := c.do("POST", "/login", input, "application/x-www-form-urlencoded"); code >= 500 {
				t.Fatalf("login %q: %d %s", input, code, resp)
			}
		case 1:
			if code, resp := c.do("POST", "/setup", input, "application/x-www-form-urlencoded"); code >= 500 {
				t.Fatalf("setup %q: %d %s", input, code, resp)
			}
		default:
			rt := gets[(which/3%len(gets)+len(gets))%len(gets)]
			path := strings.NewReplacer("{$}", "", "{camera}", "cam1", "{file}", "seg-cam1.mp4", "{lang}", "en", "{id}", "x", "{name}", "x").Replace(rt.Pattern)
			if strings.HasSuffix(path, "/") && path != "/" {
				path += "app.js"
			}
			if strings.ContainsFunc(input, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' || r == '#' }) {
				return // not a URL a client can send; the HTTP server answers 400 itself
			}
			if code, resp := c.do("GET", path+"?"+input, "", ""); code >= 500 {
				t.Fatalf("GET %s?%s: %d %s", path, input, code, resp)
			}
		}
		if env.accountsFile() != before {
			t.Fatalf("input %q changed the accounts", input)
		}
	})
}

func TestOldExportsAreSwept(t *testing.T) {
	env := newTestEnv(t)
	old := filepath.Join(env.s.exportDir, strings.Repeat("a", 32))
	os.MkdirAll(old, 0o700)
	past := env.s.now().Add(-ExportKeep - time.Hour)
	os.Chtimes(old, past, past)
	c := env.login("officer")
	if code, _, body := c.export("cam1", testT0, testT0.Add(5*time.Minute)); code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("export older than ExportKeep not removed")
	}
}
