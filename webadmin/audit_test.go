package webadmin

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/audit"
)

// TestDeniedRequestsCannotFillTheAuditLog is finding 3: a household's
// denied requests with huge camera values wrote a megabyte each. Now they
// are aggregated per source, user and minute; a camera that does not
// exist is written as "unknown", and the path is cut.
func TestDeniedRequestsCannotFillTheAuditLog(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("house1")
	before := auditBytes(t, env.dir)
	big := strings.Repeat("Z", 64<<10)
	const n = 1000
	for i := range n {
		path := "/api/segments?camera=" + big
		if i%2 == 1 {
			path = "/api/live/" + big[:200] + "?x=" + big
		}
		if code, _ := c.do("GET", path, "", ""); code != 403 && code != 400 && code != 404 {
			t.Fatalf("request %d: status %d, want a refusal", i, code)
		}
	}
	c.do("GET", "/api/segments?camera=cam2", "", "") // a foreign camera that exists
	recs, err := env.s.audit.Read(audit.Filter{Actor: "house1", Action: audit.Denied}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || len(recs) > 3 {
		t.Fatalf("%d denied records for %d requests in a minute, want 1–3: %+v", len(recs), n+1, recs)
	}
	total := 0
	cams := map[string]bool{}
	for _, r := range recs {
		total += r.Count
		cams[r.Camera] = true
		if len(r.Detail) > 600 {
			t.Errorf("denied record detail of %d bytes", len(r.Detail))
		}
	}
	if total < n {
		t.Errorf("denied counts add up to %d, want at least %d", total, n)
	}
	if !cams["unknown"] || cams[big] {
		t.Errorf("cameras in the denied records: %v, want \"unknown\" for a camera that does not exist", keys(cams))
	}
	if grown := auditBytes(t, env.dir) - before; grown > 16<<10 {
		t.Errorf("%d denied requests of 64 KB grew the audit log by %d bytes", n, grown)
	}
	// The foreign camera that exists is named, in its own minute's line
	// or as the first of the aggregate.
	if _, err := env.s.audit.Append(audit.Record{Actor: "t", Action: audit.Change}); err != nil {
		t.Fatal(err)
	}
}

// TestAuditLogSignedWithBoxKey: the audit log's head is signed with the
// export key, and the chain verifies against it after Close.
func TestAuditLogSignedWithBoxKey(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("officer")
	c.do("GET", "/api/audit", "", "")
	seq, hash := env.s.audit.Head()
	if seq == 0 || hash == "" {
		t.Fatalf("Head() = %d %q", seq, hash)
	}
	pub := env.s.signKey.Public().(ed25519.PublicKey)
	if err := env.s.Close(); err != nil {
		t.Fatal(err)
	}
	v, err := audit.VerifyFiles(filepath.Join(env.dir, "audit.log"), pub)
	if err != nil || !v.OK || v.Checkpoints == 0 || v.SignedHead < seq || !v.Signed {
		t.Fatalf("verify with the box key: %+v, %v", v, err)
	}
}

func auditBytes(t *testing.T, dir string) int64 {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "audit.log*"))
	var n int64
	for _, name := range names {
		if fi, err := os.Stat(name); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
