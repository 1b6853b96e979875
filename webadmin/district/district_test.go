package district

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/federation"
	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/hwtest/fedtest"
	"github.com/matthan/matthan/hwtest/testenv"
)

// boxClips is a box's clip side for the page test: a real MP4 signed with
// a real box key (evidence.Sign); the box's real one is webadmin's signed
// export (webadmin.Server.MakeClip).
type boxClips struct {
	src  string
	key  ed25519.PrivateKey
	work string
}

func (b *boxClips) Shared(cam string) (bool, bool) {
	return cam == "road1" || cam == "indoor", cam == "road1"
}
func (b *boxClips) Audit(actor, action, camera, detail string) {}
func (b *boxClips) WorkDir() string                            { return b.work }
func (b *boxClips) MakeClip(ctx context.Context, job federation.ClipJob) (federation.ClipFiles, error) {
	data, err := os.ReadFile(b.src)
	if err != nil {
		return federation.ClipFiles{}, err
	}
	out := federation.ClipFiles{File: job.Camera + ".mp4", Clip: filepath.Join(job.Dir, "clip.mp4"), Manifest: filepath.Join(job.Dir, "manifest.json"), Sig: filepath.Join(job.Dir, "manifest.sig")}
	os.WriteFile(out.Clip, data, 0o600)
	sum := sha256.Sum256(data)
	iv := evidence.Interval{From: job.From, To: job.To}
	_, mb, sig, err := evidence.Sign(b.key, evidence.Manifest{Camera: job.Camera, CameraName: "Ngã ba chợ", Requested: iv, Intervals: []evidence.Interval{iv},
		ExportedBy: job.Actor, Role: "district", Created: time.Now(), File: out.File, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return out, err
	}
	os.WriteFile(out.Manifest, mb, 0o600)
	os.WriteFile(out.Sig, []byte(sig+"\n"), 0o600)
	return out, nil
}

func serverConfig(listen, storeDir string, keys map[string]string) (string, error) {
	var users []federation.BoxUser
	for b, k := range keys {
		users = append(users, federation.BoxUser{Box: b, NKey: k})
	}
	return federation.ServerConfig(listen, storeDir, fedtest.User, fedtest.Password, users, "", "")
}

type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	resp, err := c.c.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) post(path string, form url.Values) (int, string) {
	c.t.Helper()
	resp, err := c.c.PostForm(c.base+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func login(t *testing.T, base, name, pw string) (*client, string) {
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	code, body := c.post("/login", url.Values{"name": {name}, "password": {pw}})
	if code != http.StatusOK {
		t.Fatalf("login %s: %d %s", name, code, body)
	}
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token after login:\n%s", body)
	}
	return c, m[1]
}

// TestDistrictPage: a box publishes events and health; the district page
// shows the box and its cameras, finds the events, fetches a clip that
// plays under ffprobe and whose manifest verifies, states the refusal of
// an unshared camera, keeps roles apart and logs who fetched what.
func TestDistrictPage(t *testing.T) {
	ffprobe := testenv.LookTool(t, "ffprobe", "ffmpeg")
	src := fedtest.MakeClip(t, t.TempDir(), 4)
	ns := fedtest.Start(t, serverConfig, "xa-an-binh")
	dataDir := t.TempDir()
	d, err := federation.OpenDistrict(federation.DistrictOptions{URL: ns.URL, User: fedtest.User, Password: fedtest.Password, DataDir: dataDir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	key, _ := evidence.LoadOrCreateKey(filepath.Join(dataDir, federation.KeyFile))
	page, err := New(Config{DataDir: filepath.Join(dataDir, "page"), Core: d, Index: d.Index, Key: key, HashParams: auth.HashParams{Time: 1, Memory: 8 * 1024, Threads: 1}, InsecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	const pw = "mat-khau-huyen-2026"
	if err := page.CreateUser("canbo", pw, auth.Officer); err != nil {
		t.Fatal(err)
	}
	if err := page.CreateUser("kythuat", pw, auth.Technician); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(page)
	defer hs.Close()

	// The box.
	_, boxKey, _ := ed25519.GenerateKey(nil)
	cur, _ := federation.OpenCursor(filepath.Join(t.TempDir(), "cursor"))
	idx, err := search.Open(filepath.Join(t.TempDir(), "events"), search.Options{Logf: func(string, ...any) {}, FlushEvery: 50 * time.Millisecond, Hold: cur.Hold})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	cfg := federation.Config{URL: ns.URL, Box: "xa-an-binh", NKeySeed: ns.Seeds["xa-an-binh"], DistrictKey: d.PublicKey()}
	pub := boxKey.Public().(ed25519.PublicKey)
	box, err := federation.StartBox(federation.BoxOptions{Config: cfg, Outbox: idx, Cursor: cur, Clips: &boxClips{src: src, key: boxKey, work: t.TempDir()},
		HealthEvery: 200 * time.Millisecond, Poll: 50 * time.Millisecond, Logf: t.Logf,
		Health: func() federation.Health {
			return federation.Health{Version: "1.0", KeyFingerprint: evidence.Fingerprint(pub), PublicKey: base64.StdEncoding.EncodeToString(pub),
				Cameras: []federation.CameraHealth{{ID: "road1", Name: "Ngã ba chợ", Online: true, BitrateKbps: 4000, Shared: true}, {ID: "indoor", Name: "Trong nhà", Shared: false}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	now := time.Now()
	idx.Publish(events.Event{ID: "m1", Type: events.Motion, Camera: "road1", Start: now.Add(-2 * time.Minute), Text: "xe máy"})
	idx.Publish(events.Event{ID: "o1", Type: events.CameraOffline, Camera: "indoor", Start: now.Add(-time.Minute)})
	fedtest.WaitFor(t, 20*time.Second, "the events at the district", func() bool { n, _ := d.Index.Count(); return n == 2 })
	fedtest.WaitFor(t, 10*time.Second, "the box's health", func() bool { return len(d.Boxes()) == 1 })

	officer, csrf := login(t, hs.URL, "canbo", pw)
	if code, body := officer.get("/"); code != 200 || !strings.Contains(body, "xa-an-binh") || !strings.Contains(body, "Ngã ba chợ") || !strings.Contains(body, "hoạt động") {
		t.Fatalf("boxes page: %d\n%s", code, body)
	}
	// Searchable with or without diacritics.
	for _, q := range []string{"xe máy", "xe may"} {
		if code, body := officer.get("/events?q=" + url.QueryEscape(q)); code != 200 || strings.Count(body, `class="event"`) != 1 || !strings.Contains(body, "xa-an-binh.road1") {
			t.Fatalf("events search %q: %d\n%s", q, code, body)
		}
	}
	if _, body := officer.get("/events?box=xa-an-binh"); strings.Count(body, `class="event"`) != 2 {
		t.Fatalf("events of the box:\n%s", body)
	}

	// Fetch a clip from the page.
	loc, _ := evidence.Zone("")
	from, to := now.Add(-10*time.Minute).In(loc).Format("2006-01-02T15:04"), now.Add(-5*time.Minute).In(loc).Format("2006-01-02T15:04")
	if code, body := officer.post("/clips", url.Values{"csrf": {csrf}, "box": {"xa-an-binh"}, "camera": {"road1"}, "from": {from}, "to": {to}}); code != 200 {
		t.Fatalf("fetch: %d\n%s", code, body)
	}
	var body string
	fedtest.WaitFor(t, 60*time.Second, "the clip on the clips page", func() bool {
		_, body = officer.get("/clips")
		return strings.Contains(body, `class="ok verified"`) || strings.Contains(body, "fetch-error")
	})
	if !strings.Contains(body, `class="ok verified"`) {
		t.Fatalf("clip not verified:\n%s", body)
	}
	m := regexp.MustCompile(`href="(/clips/[0-9a-f]{32}/)road1.mp4"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no clip link:\n%s", body)
	}
	dl := t.TempDir()
	for _, f := range []string{"road1.mp4", "manifest.json", "manifest.sig"} {
		code, b := officer.get(m[1] + f)
		if code != 200 {
			t.Fatalf("download %s: %d", f, code)
		}
		os.WriteFile(filepath.Join(dl, f), []byte(b), 0o600)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", filepath.Join(dl, "road1.mp4")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "100" {
		t.Fatalf("ffprobe of the downloaded clip: %v %q", err, out)
	}
	mb, _ := os.ReadFile(filepath.Join(dl, "manifest.json"))
	sig, _ := os.ReadFile(filepath.Join(dl, "manifest.sig"))
	f, _ := os.Open(filepath.Join(dl, "road1.mp4"))
	rep, err := evidence.Verify(mb, sig, f, evidence.TrustKey(pub))
	f.Close()
	if err != nil || !rep.OK() {
		t.Fatalf("manifest of the downloaded clip: %v %+v", err, rep)
	}

	// An unshared camera: refused, and said so.
	officer.post("/clips", url.Values{"csrf": {csrf}, "box": {"xa-an-binh"}, "camera": {"indoor"}, "from": {from}, "to": {to}})
	fedtest.WaitFor(t, 20*time.Second, "the refusal on the clips page", func() bool {
		_, body = officer.get("/clips")
		return strings.Contains(body, "fetch-error")
	})
	if !strings.Contains(body, federation.RefuseNotShared) {
		t.Fatalf("refusal not shown:\n%s", body)
	}
	// No CSRF token: refused.
	if code, _ := officer.post("/clips", url.Values{"box": {"xa-an-binh"}, "camera": {"road1"}, "from": {from}, "to": {to}}); code != http.StatusForbidden {
		t.Fatalf("fetch without CSRF: %d", code)
	}

	// Roles: a technician manages accounts but fetches nothing.
	tech, tcsrf := login(t, hs.URL, "kythuat", pw)
	if code, _ := tech.post("/clips", url.Values{"csrf": {tcsrf}, "box": {"xa-an-binh"}, "camera": {"road1"}, "from": {from}, "to": {to}}); code != http.StatusForbidden {
		t.Fatalf("technician fetch: %d", code)
	}
	if code, _ := tech.get("/events"); code != http.StatusForbidden {
		t.Fatalf("technician events: %d", code)
	}
	if code, _ := officer.get("/users"); code != http.StatusForbidden {
		t.Fatalf("officer users page: %d", code)
	}
	if code, body := tech.post("/users", url.Values{"csrf": {tcsrf}, "name": {"canbo2"}, "password": {"mot-mat-khau-dai-2026"}, "role": {"officer"}}); code != 200 || !strings.Contains(body, "canbo2") {
		t.Fatalf("create officer: %d\n%s", code, body)
	}
	// Not logged in.
	anon := &client{t: t, base: hs.URL, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if code, _ := anon.get("/clips"); code != http.StatusSeeOther {
		t.Fatalf("anonymous clips: %d", code)
	}

	// The audit log: who fetched and downloaded what.
	_, body = officer.get("/audit")
	for _, want := range []string{"fetch_request", ">fetch<", "download", "camera=road1", "fetch_failed", "denied"} {
		if !strings.Contains(body, want) {
			t.Errorf("district audit lacks %q", want)
		}
	}
}
