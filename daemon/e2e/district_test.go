package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/federation"
	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/fedtest"
	"github.com/matthan/matthan/hwtest/testenv"
)

func districtServerConfig(listen, storeDir string, keys map[string]string) (string, error) {
	var users []federation.BoxUser
	for b, k := range keys {
		users = append(users, federation.BoxUser{Box: b, NKey: k})
	}
	return federation.ServerConfig(listen, storeDir, fedtest.User, fedtest.Password, users, "", "")
}

// TestDistrictThreeBoxes: three matthand processes, each recording a
// simulated camera, joined to a district by their technicians on the
// page (POST /api/system/district). The district's server stops for 15 s
// while a camera goes offline and comes back; afterwards the district
// holds every event of every box exactly once (each box's log is the
// truth). The district fetches a clip: the box's own signed export, in
// its audit log, plays under ffprobe and verifies under the fingerprint
// the box printed. A camera a commune officer marked not shared is
// refused.
func TestDistrictThreeBoxes(t *testing.T) {
	t.Parallel()
	testenv.LookTool(t, "ffprobe", "ffmpeg")
	boxes := []string{"xa-a", "xa-b", "xa-c"}
	ns := fedtest.Start(t, districtServerConfig, boxes...)
	d, err := federation.OpenDistrict(federation.DistrictOptions{URL: ns.URL, User: fedtest.User, Password: fedtest.Password, DataDir: t.TempDir(), Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sim := startCamsim(t, 3)
	ctx := context.Background()
	daemons := make([]*daemon, len(boxes))
	fps := map[string]string{}
	for i, b := range boxes {
		cam := fmt.Sprintf("cam%d", i+1)
		daemons[i] = startDaemon(t, t.TempDir(), freePort(t), []string{"-offline-after", "3"}, cameraArgs(sim, cam)...)
		out := daemons[i].output()
		m := boxKeyRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatal("no evidence key fingerprint on the console")
		}
		fps[b] = m[1]
		tech, err := adminclient.Login(ctx, daemons[i].base, adminclient.Fingerprint(out), adminclient.Technician)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tech.Do(ctx, http.MethodPost, "/api/system/district", map[string]string{"url": ns.URL, "box": b,
			"nkeySeed": ns.Seeds[b], "districtKey": d.PublicKey()})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("district settings on %s: %s %s", b, resp.Status, body)
		}
		// The seed is write-only.
		var got struct {
			Settings struct {
				NKeySeed string `json:"nkeySeed"`
				SeedSet  bool   `json:"seedSet"`
			} `json:"settings"`
		}
		if err := tech.GetJSON(ctx, "/api/system/district", &got); err != nil || got.Settings.NKeySeed != "" || !got.Settings.SeedSet {
			t.Fatalf("district settings read back: %v %+v", err, got)
		}
		if err := d.Trust(b, fps[b]); err != nil {
			t.Fatal(err)
		}
	}
	fedtest.WaitFor(t, 30*time.Second, "the three boxes at the district", func() bool { return len(d.Boxes()) == 3 })
	for i := range boxes {
		daemons[i].waitRecording(t, time.Now(), 20*time.Second, fmt.Sprintf("cam%d", i+1))
	}

	// Link down for 15 s while box b's camera goes offline and returns.
	ns.Stop()
	sim.fault(t, "cam2", "offline?for=6s")
	time.Sleep(15 * time.Second)
	ns.Start()
	want := map[string][]events.Event{}
	fedtest.WaitFor(t, 60*time.Second, "every box's log at the district", func() bool {
		for i, b := range boxes {
			want[b] = boxEvents(t, daemons[i])
			for _, e := range want[b] {
				got, ok, _ := d.Index.Get(b + "/" + e.ID)
				if !ok || got.Seq < e.Seq {
					return false
				}
			}
		}
		return true
	})
	total := 0
	offline := false
	for b, evs := range want {
		total += len(evs)
		for _, e := range evs {
			offline = offline || (b == "xa-b" && e.Type == events.CameraOffline)
		}
	}
	if !offline {
		t.Errorf("box xa-b's offline event (during the outage) is not in its log: %+v", want["xa-b"])
	}
	if n, _ := d.Index.Count(); int(n) != total {
		t.Fatalf("district holds %d events, the boxes %d", n, total)
	}
	res, err := d.Index.Search(ctx, search.Query{Types: []events.Type{events.CameraOffline}})
	if err != nil || res.Total != 1 || res.Events[0].Box != "xa-b" {
		t.Fatalf("offline events at the district: %v %+v", err, res)
	}

	// A clip of box a's camera, fetched by the district.
	fctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	to := time.Now().Add(-2 * time.Second)
	fc, err := d.FetchClip(fctx, "Đại úy Trần", "xa-a", "cam1", to.Add(-8*time.Second), to)
	if err != nil {
		t.Fatal(err)
	}
	if !fc.Report.OK() || fc.Report.Manifest.KeyFingerprint != fps["xa-a"] || fc.Manifest.ExportedBy != "district:Đại úy Trần" {
		t.Fatalf("fetched clip: %+v", fc.Report)
	}
	clip := filepath.Join(fc.Dir, fc.File)
	p := judge(t, clip)
	if p.frames < 100 {
		t.Fatalf("fetched clip: %d frames", p.frames)
	}
	mb, _ := os.ReadFile(filepath.Join(fc.Dir, "manifest.json"))
	sig, _ := os.ReadFile(filepath.Join(fc.Dir, "manifest.sig"))
	f, _ := os.Open(clip)
	trust, _ := evidence.TrustFingerprint(fps["xa-a"])
	rep, err := evidence.Verify(mb, sig, f, trust)
	f.Close()
	if err != nil || !rep.OK() {
		t.Fatalf("manifest under the printed fingerprint: %v %+v", err, rep)
	}
	var aud struct {
		Records []struct{ Actor, Action, Camera string } `json:"records"`
	}
	if err := daemons[0].client.GetJSON(ctx, "/api/audit", &aud); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range aud.Records {
		if r.Actor == "district:Đại úy Trần" {
			seen[r.Action] = true
		}
	}
	for _, a := range []string{federation.AuditRequest, "export", federation.AuditUpload} {
		if !seen[a] {
			t.Errorf("box audit log lacks %s by the district officer: %+v", a, aud.Records)
		}
	}

	// A commune officer unmarks box c's camera: the district is refused.
	var cams struct {
		Cameras []struct {
			ID       string          `json:"id"`
			Settings json.RawMessage `json:"settings"`
		} `json:"cameras"`
	}
	if err := daemons[2].client.GetJSON(ctx, "/api/cameras", &cams); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	for _, c := range cams.Cameras {
		if c.ID == "cam3" {
			json.Unmarshal(c.Settings, &rec)
		}
	}
	if rec == nil {
		t.Fatalf("cam3's record: %+v", cams)
	}
	rec["notShared"] = true
	resp, err := daemons[2].client.Do(ctx, http.MethodPost, "/api/cameras", rec)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unmark cam3: %s %s", resp.Status, body)
	}
	_, err = d.FetchClip(fctx, "Đại úy Trần", "xa-c", "cam3", to.Add(-8*time.Second), to)
	if !errors.Is(err, federation.ErrRefused) || !strings.Contains(err.Error(), federation.RefuseNotShared) {
		t.Fatalf("unshared camera: %v", err)
	}
	for _, dm := range daemons {
		dm.checkNoPanic(t)
	}
}

// boxEvents is a box's whole event log, from its search API.
func boxEvents(t *testing.T, d *daemon) []events.Event {
	t.Helper()
	var res struct {
		Events []events.Event `json:"hits"`
	}
	q := url.Values{"size": {"500"}, "from": {time.Now().Add(-time.Hour).Format(time.RFC3339)}, "to": {time.Now().Add(time.Hour).Format(time.RFC3339)}}
	if err := d.client.GetJSON(context.Background(), "/api/events/search?"+q.Encode(), &res); err != nil {
		t.Fatal(err)
	}
	return res.Events
}
