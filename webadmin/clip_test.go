package webadmin

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/evidence"
)

// TestHouseholdClipDownload: a household downloads a clip of its own
// camera (audited as "download", before it is handed out), is refused a
// foreign camera's, and a clip is at most 10 minutes. The clip goes
// through the signed export: the box keeps a signed manifest of exactly
// the bytes the household got, which the box's published key verifies.
func TestHouseholdClipDownload(t *testing.T) {
	env := newTestEnv(t)
	hh := env.login("house1")
	q := func(from, to time.Time) string {
		return "?" + url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}.Encode()
	}
	downloads := func() int {
		recs, _ := env.s.audit.Read(auditFilterActor("house1", "download"), 100)
		return len(recs)
	}
	code, body := hh.do("GET", "/api/clips/cam1"+q(testT0, testT0.Add(5*time.Minute)), "", "")
	if code != http.StatusOK || !strings.HasPrefix(body, "mp4 of cam1") {
		t.Fatalf("own clip: %d %q", code, body)
	}
	if downloads() != 1 {
		t.Errorf("%d download audit lines, want 1", downloads())
	}
	dirs, _ := filepath.Glob(filepath.Join(env.s.exportDir, "*", "manifest.json"))
	if len(dirs) != 1 {
		t.Fatalf("%d signed manifests kept for the clip, want 1", len(dirs))
	}
	mj, _ := os.ReadFile(dirs[0])
	sig, _ := os.ReadFile(filepath.Join(filepath.Dir(dirs[0]), "manifest.sig"))
	trust, _ := evidence.TrustFingerprint(env.s.BoxKeyFingerprint())
	rep, err := evidence.Verify(mj, sig, strings.NewReader(body), trust)
	if err != nil || rep.Manifest.ExportedBy != "house1" || rep.Manifest.Camera != "cam1" {
		t.Errorf("the household's clip against the box's manifest: %+v: %v", rep.Manifest, err)
	}
	if recs, _ := env.s.audit.Read(auditFilterActor("house1", "download"), 1); len(recs) == 0 || !strings.Contains(recs[0].Detail, "sha256="+rep.ClipSHA256) {
		t.Errorf("download audit line does not hold the clip's SHA-256 %s: %+v", rep.ClipSHA256, recs)
	}
	if code, _ := hh.do("GET", "/api/clips/cam2"+q(testT0, testT0.Add(time.Minute)), "", ""); code != http.StatusForbidden && code != http.StatusNotFound {
		t.Errorf("foreign camera's clip: %d, want refused", code)
	}
	if code, _ := hh.do("GET", "/api/clips/cam1"+q(testT0, testT0.Add(11*time.Minute)), "", ""); code != http.StatusBadRequest {
		t.Errorf("11-minute clip: %d, want 400", code)
	}
	if code, _ := hh.do("GET", "/api/clips/cam1"+q(testT0.Add(-3*time.Hour), testT0.Add(-175*time.Minute)), "", ""); code != http.StatusNotFound {
		t.Errorf("clip of nothing: %d, want 404", code)
	}
	if downloads() != 1 {
		t.Errorf("refused clips were audited as downloads: %d lines", downloads())
	}
	// The signed export stays with officers.
	if code, _ := hh.do("POST", "/api/exports?camera=cam1&"+q(testT0, testT0.Add(time.Minute))[1:], "", ""); code == http.StatusOK {
		t.Error("a household made an evidence export")
	}
}
