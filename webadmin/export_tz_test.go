package webadmin

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zones other than the default, whatever the host has

	"github.com/matthan/matthan/daemon/evidence"
)

func TestExportFileNameIsLocal(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	vn, _ := evidence.Zone("")
	from := time.Date(2026, 12, 6, 20, 23, 0, 0, time.UTC)
	to := from.Add(10*time.Minute + 7*time.Second)
	for _, tt := range []struct {
		loc  *time.Location
		want string
	}{
		{vn, "cam1_2026-12-07_03-23-00_2026-12-07_03-33-07.mp4"},
		{ny, "cam1_2026-12-06_15-23-00_2026-12-06_15-33-07.mp4"},
		{time.UTC, "cam1_2026-12-06_20-23-00_2026-12-06_20-33-07.mp4"},
	} {
		if got := exportFileName("cam1", from, to, tt.loc); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.loc, got, tt.want)
		}
	}
}

// An export made at 03:23 on 7/12 in Việt Nam (20:23 UTC on 6/12) is named,
// stated in its manifest and audited in local time, seconds kept.
func TestExportTimesAreLocal(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("officer")
	from := testT0.Add(3 * time.Minute)
	to := from.Add(4*time.Minute + 7*time.Second)
	code, res, body := c.export("cam1", from, to)
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	// testT0 is 10:00 UTC, 17:00 in Việt Nam.
	const name = "cam1_2026-11-26_17-03-00_2026-11-26_17-07-07.mp4"
	if res.Manifest.File != name || !strings.HasSuffix(res.Video, "/"+name) {
		t.Errorf("file %q (%s), want %s", res.Manifest.File, res.Video, name)
	}
	_, mj := c.do("GET", res.ManifestURL, "", "")
	for _, want := range []string{`"from": "2026-11-26T17:03:00+07:00"`, `"to": "2026-11-26T17:07:07+07:00"`, `"timeZone": "Asia/Ho_Chi_Minh"`} {
		if !strings.Contains(mj, want) {
			t.Errorf("manifest lacks %s:\n%s", want, mj)
		}
	}
	if code, _ := c.do("GET", res.Video, "", ""); code != 200 {
		t.Errorf("download by the local name: %d", code)
	}
	// The system page names the zone these times are in.
	if _, sys := c.do("GET", "/api/system", "", ""); !strings.Contains(sys, `"timeZone":"Asia/Ho_Chi_Minh"`) {
		t.Errorf("/api/system does not name the zone: %s", sys)
	}
	recs, _ := env.s.audit.Read(auditFilterActor("officer", "export"), 10)
	if len(recs) != 1 || !strings.HasPrefix(recs[0].Detail, "2026-11-26T17:03:00+07:00..2026-11-26T17:07:07+07:00 ") {
		t.Fatalf("export audit detail: %+v", recs)
	}
}
