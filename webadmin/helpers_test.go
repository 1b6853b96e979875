package webadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/diag"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/lights"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/pairing"
)

// Test world: households h1 (owns cam1, granted road cam3) and h2 (owns
// cam2); cam4 is a road camera granted to nobody.
var testT0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

type fakeCams struct{}

func (fakeCams) CameraStates() []CameraState {
	return []CameraState{{ID: "cam1", Online: true, Recording: true}, {ID: "cam2", Online: true}, {ID: "cam3"}, {ID: "cam4"}}
}

type fakeSegments struct{}

func (fakeSegments) Segments(_ context.Context, camera string, from, to time.Time) ([]Segment, error) {
	return []Segment{{File: "seg-" + camera + ".mp4", Start: testT0, End: testT0.Add(time.Minute), Bytes: 10}}, nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

func (fakeSegments) OpenSegment(camera, file string) (io.ReadSeekCloser, time.Time, error) {
	if file == "frag-"+camera+".mp4" { // a real fragmented MP4 (playback_test.go)
		return nopCloser{bytes.NewReader(testFragSegment)}, testT0, nil
	}
	if file == "lpcm-"+camera+".mp4" || file == "aac-"+camera+".mp4" { // the same with sound (audio_test.go)
		return nopCloser{bytes.NewReader(testSoundSegment(file[:3] == "aac"))}, testT0, nil
	}
	if file != "seg-"+camera+".mp4" {
		return nil, time.Time{}, os.ErrNotExist
	}
	return nopCloser{bytes.NewReader([]byte("video of " + camera))}, testT0, nil
}

// fakeExporter's cameras recorded from testT0-1h to testT0+2h, with a hole
// from testT0+2m to testT0+2m31s.
type fakeExporter struct{}

var (
	fakeRecorded = evidence.Interval{From: testT0.Add(-time.Hour), To: testT0.Add(2 * time.Hour)}
	fakeHole     = evidence.Interval{From: testT0.Add(2 * time.Minute), To: testT0.Add(151 * time.Second)}
	// fakeUnsynced: recorded before the box's clock was synchronised.
	fakeUnsynced = evidence.Interval{From: testT0.Add(-time.Hour), To: testT0.Add(-30 * time.Minute)}
)

func (fakeExporter) Export(ctx context.Context, camera string, from, to time.Time, w io.Writer) (evidence.Coverage, error) {
	out, err := fakeExport(ctx, camera, from, to, w)
	cov := evidence.Coverage{Intervals: out}
	if u := fakeUnsynced.Intersect(evidence.Interval{From: from, To: to}); len(out) > 0 && u.From.Before(u.To) {
		cov.ClockUnsynced = []evidence.Interval{u}
	}
	return cov, err
}

func fakeExport(_ context.Context, camera string, from, to time.Time, w io.Writer) ([]evidence.Interval, error) {
	var out []evidence.Interval
	for _, iv := range []evidence.Interval{{From: fakeRecorded.From, To: fakeHole.From}, {From: fakeHole.To, To: fakeRecorded.To}} {
		iv = iv.Intersect(evidence.Interval{From: from, To: to})
		if iv.From.Before(iv.To) {
			out = append(out, iv)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	_, err := fmt.Fprintf(w, "mp4 of %s %s..%s", camera, from, to)
	return out, err
}

// fakeSearch returns an event for every camera it is asked about, and
// also a stray event of cam2 to check that the page filters.
type fakeSearch struct{}

func (fakeSearch) Search(_ context.Context, q SearchQuery) (SearchResult, error) {
	var r SearchResult
	for _, c := range q.Cameras {
		r.Hits = append(r.Hits, events.Event{Type: events.Motion, Camera: c, Start: testT0})
	}
	r.Total = len(r.Hits)
	return r, nil
}

type testEnv struct {
	t      testing.TB
	s      *Server
	srv    *httptest.Server
	hub    *live.Hub
	dir    string
	lights *fakeLights
}

const testPassword = "mật-khẩu-dài-1"

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	hub := live.NewHub()
	for _, c := range []string{"cam1", "cam2", "cam3", "cam4"} {
		hub.Feed(c)
	}
	lp := &fakeLights{mode: lights.Auto}
	dg := fakeDiag{segs: []diag.Segment{{Camera: "cam1", Start: t0.Add(-10 * time.Minute), End: t0.Add(-9 * time.Minute), Bytes: 13,
		File: "cam1/2026-11-26/20261126T095000.000Z.mp4"}}}
	s, err := New(Config{DataDir: dir, Console: io.Discard, Cameras: fakeCams{}, LightsControl: lp, Diag: dg, Segments: fakeSegments{}, Exporter: fakeExporter{},
		Search: fakeSearch{}, Live: hub, District: &fakeDistrict{}, CameraPolicy: camnet.Policy{AllowLoopback: true}, HashParams: auth.HashParams{Time: 1, Memory: 64, Threads: 1}, InsecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.cfg.Pairing = pairing.New(pairing.Config{Records: s.cams, Policy: camnet.Policy{AllowLoopback: true}})
	st := s.Store()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.PutHousehold("h1", "Nhà ông A", "1 Đường Làng"))
	must(st.PutHousehold("h2", "Nhà bà B", ""))
	must(st.SetGrants("h1", []string{"cam3"}))
	must(s.PutCamera(CameraSettings{ID: "cam1", Name: "Cổng nhà A", URL: "rtsp://127.0.0.1:8554/cam1", Household: "h1"}))
	must(s.PutCamera(CameraSettings{ID: "cam2", Name: "Sân nhà B", URL: "rtsp://127.0.0.1:8554/cam2", Household: "h2"}))
	must(s.PutCamera(CameraSettings{ID: "cam3", Name: "Đường chính", URL: "rtsp://127.0.0.1:8554/cam3"}))
	must(s.PutCamera(CameraSettings{ID: "cam4", Name: "Ngã ba", URL: "rtsp://127.0.0.1:8554/cam4"}))
	must(st.CreateUser("tech", testPassword, auth.Technician, ""))
	s.setup.Use()
	must(st.CreateUser("officer", testPassword, auth.Officer, ""))
	must(st.CreateUser("house1", testPassword, auth.Household, "h1"))
	must(st.CreateUser("house2", testPassword, auth.Household, "h2"))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, s: s, srv: srv, hub: hub, dir: dir, lights: lp}
}

// client is a logged-in browser.
type client struct {
	env  *testEnv
	http *http.Client
	csrf string
}

var csrfRE = regexp.MustCompile(`<meta name="csrf" content="([^"]*)">`)

func (e *testEnv) login(user string) *client {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{env: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if user == "" {
		return c
	}
	resp, err := c.http.PostForm(e.srv.URL+"/login", url.Values{"username": {user}, "password": {testPassword}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login %s: status %d", user, resp.StatusCode)
	}
	code, body := c.do("GET", "/account", "", "")
	m := csrfRE.FindStringSubmatch(body)
	if code != 200 || m == nil || m[1] == "" {
		e.t.Fatalf("login %s: no CSRF token on page (status %d)", user, code)
	}
	c.csrf = m[1]
	return c
}

// exportAnswer is the answer of POST /api/exports.
type exportAnswer struct {
	Manifest           evidence.Manifest
	Signature          string
	Video, ManifestURL string
}

// export asks for the signed export of camera's [from, to): the status,
// the answer and its text.
func (c *client) export(camera string, from, to time.Time) (int, exportAnswer, string) {
	c.env.t.Helper()
	q := url.Values{"camera": {camera}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	code, body := c.do("POST", "/api/exports", q.Encode(), "application/x-www-form-urlencoded")
	var res exportAnswer
	if code == 200 {
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			c.env.t.Fatalf("export answer %s: %v", body, err)
		}
	}
	return code, res, body
}

// do sends a request; ctype "" means a JSON body when body is not empty.
func (c *client) do(method, path, body, ctype string) (int, string) {
	c.env.t.Helper()
	req, err := http.NewRequest(method, c.env.srv.URL+path, strings.NewReader(body))
	if err != nil {
		c.env.t.Fatal(err)
	}
	if body != "" {
		if ctype == "" {
			ctype = "application/json"
		}
		req.Header.Set("Content-Type", ctype)
	}
	if c.csrf != "" && method != "GET" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.env.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *testEnv) accountsFile() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "accounts.json"))
	return string(b)
}

func (e *testEnv) camerasFile() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "cameras.json"))
	return string(b)
}

type fuzzWorld struct {
	*testEnv
	clients map[string]*client
}

// newFuzzWorld is one world for all fuzz inputs (building one per input
// would make fuzzing slow); state changed by accepted inputs is fine.
func newFuzzWorld(f *testing.F) *fuzzWorld {
	env := newTestEnv(f)
	withRTC(f, env) // the WebRTC offer route answers for real
	return &fuzzWorld{testEnv: env, clients: map[string]*client{"officer": env.login("officer"), "tech": env.login("tech")}}
}

// PutCamera stores a camera record as the daemon's core would (validated
// for the page's camera policy).
func (s *Server) PutCamera(c CameraSettings) error {
	if key, ok := c.ValidateFor(s.cfg.CameraPolicy); !ok {
		return fmt.Errorf("camera %s: %s", c.ID, tr(langEN, key))
	}
	return s.cams.Put(c)
}
