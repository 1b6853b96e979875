package webadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/matthan/matthan/daemon/disks"
)

type fakeDisks struct {
	mu        sync.Mutex
	confirmed []string
	forgotten int
	st        disks.Status
}

func (f *fakeDisks) Status() disks.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeDisks) Forget() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st.State == disks.OnDisk {
		return fmt.Errorf("%w: recording onto it now", disks.ErrNotConfirmable)
	}
	f.st.State, f.st.Alarm = disks.OnCard, ""
	f.forgotten++
	return nil
}

func (f *fakeDisks) Confirm(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != "sdb:S1:1000000000000" {
		return fmt.Errorf("%w: %s is not attached (any more)", disks.ErrNotFound, id)
	}
	f.confirmed = append(f.confirmed, id)
	f.st.State = disks.OnDisk
	return nil
}

// TestRecordingDiskConfirm: officers and technicians see the disks and the
// alarm; only a technician confirms, with the CSRF token; the confirm is
// audited with the disk's model and serial; a stale disk is refused with a
// message in the user's language.
func TestRecordingDiskConfirm(t *testing.T) {
	env := newTestEnv(t)
	fd := &fakeDisks{st: disks.Status{State: disks.Lost, Alarm: "Mất ổ ghi hình USB / Recording disk lost",
		Disks: []disks.Disk{{Name: "sdb", ID: "sdb:S1:1000000000000", Vendor: "WDC", Model: "Elements", Serial: "S1", SizeBytes: 1e12, Content: disks.Other}}}}
	env.s.cfg.Disks = fd
	off, tech := env.login("officer"), env.login("tech")
	code, body := off.do("GET", "/api/disks", "", "")
	var st disks.Status
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.State != disks.Lost || len(st.Disks) != 1 || st.Alarm == "" {
		t.Fatalf("GET /api/disks as officer: %d %s", code, body)
	}
	if code, _ := off.do("POST", "/api/disks/confirm", `{"id":"sdb:S1:1000000000000"}`, ""); code != http.StatusForbidden {
		t.Errorf("officer confirmed: %d", code)
	}
	if code, _ := off.do("POST", "/api/disks/forget", "", ""); code != http.StatusForbidden || fd.forgotten != 0 {
		t.Errorf("officer forgot the disk: %d", code)
	}
	noCSRF := *tech
	noCSRF.csrf = ""
	if code, _ := noCSRF.do("POST", "/api/disks/confirm", `{"id":"sdb:S1:1000000000000"}`, ""); code != http.StatusForbidden {
		t.Errorf("confirm without CSRF token: %d", code)
	}
	if len(fd.confirmed) != 0 {
		t.Fatalf("confirmed by a refused request: %v", fd.confirmed)
	}
	if code, body := tech.do("POST", "/api/disks/confirm", `{"id":"sda:OLD:5"}`, ""); code != http.StatusConflict || !strings.Contains(body, "Không dùng được ổ này") {
		t.Errorf("stale disk: %d %s", code, body)
	}
	if code, body := tech.do("POST", "/api/disks/confirm", `{"id":"sdb:S1:1000000000000"}`, ""); code != 200 || !strings.Contains(body, "Đã chuẩn bị ổ") {
		t.Errorf("confirm: %d %s", code, body)
	}
	if len(fd.confirmed) != 1 {
		t.Errorf("confirmed %v", fd.confirmed)
	}
	if code, body := tech.do("POST", "/api/disks/forget", "", ""); code != http.StatusConflict {
		t.Errorf("forget while recording onto the disk: %d %s", code, body)
	}
	fd.mu.Lock()
	fd.st.State = disks.Lost
	fd.mu.Unlock()
	if code, body := tech.do("POST", "/api/disks/forget", "", ""); code != 200 || fd.forgotten != 1 || !strings.Contains(body, "thẻ nhớ") {
		t.Errorf("forget: %d %s", code, body)
	}
	recs, _ := env.s.audit.Read(auditFilterActor("tech", "change"), 10)
	var details []string
	for _, r := range recs {
		details = append(details, r.Detail)
	}
	all := strings.Join(details, "\n")
	if !strings.Contains(all, "recording disk confirmed: sdb WDC Elements, 1000 GB, serial S1") || !strings.Contains(all, "recording disk in use") || !strings.Contains(all, "not prepared") || !strings.Contains(all, "recording disk forgotten") {
		t.Errorf("audit: %s", all)
	}
}
