package webadmin

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/auth"
)

// TestExportProgress: while an export runs, its officer reads the bytes
// written of about how many; nobody else reads them, and the token is
// forgotten when the export ends.
func TestExportProgress(t *testing.T) {
	env := newTestEnv(t)
	req := httptest.NewRequest("POST", "/api/exports?progress=0123456789abcdef", nil)
	job, done := env.s.trackExport(req, &reqCtx{user: auth.User{Name: "officer"}, camera: "cam1"}, testT0, testT0.Add(time.Minute))
	job.Write(make([]byte, 7))
	type prog struct {
		Running        bool
		Written, Total int64
	}
	get := func(c *client) prog {
		_, body := c.do("GET", "/api/exports/progress?id=0123456789abcdef", "", "")
		var p prog
		json.Unmarshal([]byte(body), &p)
		return p
	}
	off := env.login("officer")
	if p := get(off); !p.Running || p.Written != 7 || p.Total != 10 {
		t.Errorf("progress %+v, want running, 7 of 10 bytes", p)
	}
	env.s.store.CreateUser("officer2", testPassword, auth.Officer, "")
	if p := get(env.login("officer2")); p.Running {
		t.Errorf("another officer reads the progress: %+v", p)
	}
	done()
	if p := get(off); p.Running {
		t.Errorf("progress after the end: %+v", p)
	}
}
