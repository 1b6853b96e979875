package webadmin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/firmware/update"
)

// testFirmware receives with the real firmware/update.Receive; Install
// only reports progress (the slot flow is tested in firmware/update).
type testFirmware struct {
	u         *update.Updater
	path      string
	installed bool
}

func (f *testFirmware) Running() firmware.Release   { return f.u.Running }
func (f *testFirmware) Last() (update.State, error) { return f.u.LoadState() }
func (f *testFirmware) Receive(r io.Reader) (*bundle.Manifest, error) {
	return f.u.Receive(r, f.path)
}
func (f *testFirmware) Install(ctx context.Context, progress func(string)) error {
	if _, err := os.Stat(f.path); err != nil {
		return err
	}
	progress("progress 50%")
	f.installed = true
	return nil
}

func TestFirmwareUpdateRoutes(t *testing.T) {
	env := newTestEnv(t)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	built := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	fw := &testFirmware{path: filepath.Join(dir, "upload.bundle"), u: &update.Updater{Keys: bundle.Keys{Current: pub},
		Running: firmware.Release{Board: "qemu-virt", Version: "v1", Built: built, Counter: 100}, StateDir: dir}}
	env.s.cfg.Firmware = fw
	part := filepath.Join(dir, "initrd.cpio")
	os.WriteFile(part, bytes.Repeat([]byte("x"), 5000), 0o644)
	mk := func(counter uint64, k ed25519.PrivateKey) string {
		var buf bytes.Buffer
		rel := firmware.Release{Board: "qemu-virt", Version: "v2", Built: built, Counter: counter}
		if _, err := bundle.Write(&buf, rel, []bundle.Source{{Name: "initrd.cpio", Path: part, Compress: true}}, k); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	tech, officer := env.login("tech"), env.login("officer")
	for _, tt := range []struct {
		body   string
		status int
		want   string
	}{
		{mk(200, other), 422, "Chữ ký của gói cập nhật không hợp lệ"},
		{mk(50, key), 422, "không hạ cấp"},
		{mk(200, nil), 422, "không có chữ ký"},
		{"not a bundle at all", 422, "không phải gói cập nhật"},
		{mk(200, key), 200, `"version":"v2"`},
	} {
		status, body := tech.do("POST", "/api/firmware/bundle", tt.body, "application/octet-stream")
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("upload: %d %s; want %d with %q", status, body, tt.status, tt.want)
		}
	}
	if status, _ := officer.do("POST", "/api/firmware/bundle", mk(200, key), "application/octet-stream"); status != 403 {
		t.Errorf("an officer uploaded a bundle: %d", status)
	}
	if status, body := tech.do("POST", "/api/firmware/install", "", ""); status != 200 || !strings.HasSuffix(body, "progress 50%\nok\n") || !fw.installed {
		t.Errorf("install: %d %q", status, body)
	}
	// A too large upload is cut off at the bound.
	big := strings.Repeat("x", MaxUploadBody+10)
	if status, _ := tech.do("POST", "/api/firmware/bundle", big, "application/octet-stream"); status != 422 && status != 413 {
		t.Errorf("oversized upload: %d", status)
	}
	// Every attempt is in the audit log.
	recs, err := env.s.audit.Read(audit.Filter{Action: audit.FirmwareUpdate}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 8 {
		t.Errorf("%d firmware_update audit records, want every attempt (8+)", len(recs))
	}
	// After a rollback the state says so.
	os.WriteFile(filepath.Join(dir, update.StateFile), []byte(`{"phase":"rolled-back","reason":"daemon not ready"}`), 0o600)
	if _, body := tech.do("GET", "/api/firmware", "", ""); !strings.Contains(body, update.RolledBackVI) {
		t.Errorf("GET /api/firmware after a rollback: %s", body)
	}
}
