package webadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/ntp"
	"github.com/matthan/matthan/daemon/timesync"
)

// stillClock is a system clock for the page's tests: it stands still
// until stepped, and remembers what was asked of it.
type stillClock struct {
	mu    sync.Mutex
	now   time.Time
	slew  time.Duration
	steps int
}

func (c *stillClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stillClock) Step(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now, c.steps = c.now.Add(d), c.steps+1
	return nil
}
func (c *stillClock) Slew(d time.Duration) error { c.mu.Lock(); c.slew = d; c.mu.Unlock(); return nil }
func (c *stillClock) Slewing() time.Duration     { c.mu.Lock(); defer c.mu.Unlock(); return c.slew }

type answerSync struct{ off time.Duration }

func (a answerSync) Sync(context.Context, []string) (ntp.Result, error) {
	return ntp.Result{Sample: ntp.Sample{Server: "10.0.2.2", Offset: a.off, Stratum: 2}, Agreeing: 1, Asked: 1}, nil
}

func TestClockSetFromPhone(t *testing.T) {
	env := newTestEnv(t)
	build := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	sys := &stillClock{now: build}
	d := timesync.New(timesync.Config{Clock: sys, Syncer: answerSync{}, Servers: func() []string { return []string{"10.0.2.2"} }})
	env.s.cfg.Clock = d
	officer, tech := env.login("officer"), env.login("tech")

	var v clockView
	code, body := officer.do("GET", "/api/system/clock", "", "")
	if json.Unmarshal([]byte(body), &v); code != 200 || v.Synced || v.Source != timesync.SourceBuild || !v.CanSet || v.NeedsConfirm {
		t.Fatalf("GET: %d %s", code, body)
	}
	phone := time.Date(2027, 3, 5, 8, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		body   string
		status int
		msg    string
	}{
		{`{"unixMs":0}`, 400, "không hợp lệ"},
		{`{"unixMs":"soon"}`, 400, ""},
		{fmt.Sprintf(`{"unixMs":%d}`, phone.UnixMilli()), 200, "Đã đặt giờ"},
		{fmt.Sprintf(`{"unixMs":%d}`, phone.Add(-time.Hour).UnixMilli()), 400, "không bao giờ lùi"},
	} {
		status, answer := officer.do("POST", "/api/system/clock", tt.body, "application/json")
		if status != tt.status || !strings.Contains(answer, tt.msg) {
			t.Errorf("POST %s: %d %s; want %d with %q", tt.body, status, answer, tt.status, tt.msg)
		}
	}
	if !sys.Now().Equal(phone) || sys.steps != 1 {
		t.Errorf("clock %v after %d steps, want %v", sys.Now(), sys.steps, phone)
	}
	code, body = tech.do("GET", "/api/system/clock", "", "")
	if json.Unmarshal([]byte(body), &v); code != 200 || v.Source != timesync.SourceOfficer || v.By != "officer" || v.Synced {
		t.Errorf("after the setting: %d %s", code, body)
	}
	recs, _ := env.s.audit.Read(auditFilterActor("officer", "change"), 10)
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, "box clock set from a phone: 2027-03-05T08:30:00Z (was 2026-11-01T00:00:00Z)") {
		t.Errorf("audit: %+v", recs)
	}

	// Synchronised: refused without the confirmation, allowed with it.
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	later := phone.Add(time.Hour)
	if code, body := tech.do("POST", "/api/system/clock", fmt.Sprintf(`{"unixMs":%d}`, later.UnixMilli()), "application/json"); code != 409 || !strings.Contains(body, "đang được đồng bộ") {
		t.Errorf("while synchronised: %d %s", code, body)
	}
	if code, body := tech.do("POST", "/api/system/clock", fmt.Sprintf(`{"unixMs":%d,"confirm":true}`, later.UnixMilli()), "application/json"); code != 200 {
		t.Errorf("confirmed: %d %s", code, body)
	}
	if code, body := officer.do("POST", "/api/system/clock/sync", "", ""); code != 202 || !strings.Contains(body, "Đang hỏi giờ") {
		t.Errorf("sync now: %d %s", code, body)
	}
	if !sys.Now().Equal(later) {
		t.Errorf("clock %v, want %v", sys.Now(), later)
	}
}
