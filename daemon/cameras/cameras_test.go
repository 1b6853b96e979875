package cameras

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/matthan/matthan/daemon/auth"
)

// A cameras.json written by the admin page before the record moved into
// the core loads, and is written back byte for byte.
func TestStoreReadsTodaysFormat(t *testing.T) {
	old, err := os.ReadFile("testdata/cameras-2026-12.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	list := st.List()
	if len(list) != 2 {
		t.Fatalf("%d cameras, want 2", len(list))
	}
	want := Record{ID: "cong-truoc", Name: "Cổng trước", URL: "rtsp://admin:secret@192.168.50.11:554/Streaming/Channels/101",
		Household: "nha-so-5", Mode: Motion, PreSec: 5, PostSec: 10, RetentionDays: 14,
		Zones: []Zone{{Kind: "zone", X0: 1, Y0: 2, X1: 30, Y1: 20}, {Kind: "mask", X1: 10, Y1: 3}}}
	if !reflect.DeepEqual(list[0], want) {
		t.Errorf("first camera\n got %+v\nwant %+v", list[0], want)
	}
	for _, c := range list {
		if key, ok := c.Validate(); !ok {
			t.Errorf("camera %s from an old file invalid: %s", c.ID, key)
		}
	}
	if err := st.Put(list[1]); err != nil {
		t.Fatal(err)
	}
	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(now), bytes.TrimSpace(old)) {
		t.Errorf("format changed:\n%s\nwant\n%s", now, old)
	}
}

func TestStorePutRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c := Record{ID: "cam1", Name: "Cam 1", URL: "rtsp://u:pw@10.0.0.2/s", PasswordSet: true}
	if err := st.Put(c); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := again.Get("cam1")
	if !ok || got.URL != c.URL || got.PasswordSet {
		t.Fatalf("reopened: %+v %v", got, ok)
	}
	if err := again.Remove("cam1"); err != nil {
		t.Fatal(err)
	}
	if err := again.Remove("cam1"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if st, _ := Open(path); len(st.List()) != 0 {
		t.Fatal("removed camera still stored")
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil {
		t.Fatal("a damaged file opened without error")
	}
}

func TestPasswordWriteOnly(t *testing.T) {
	c := Record{URL: "rtsp://admin:pw@10.0.0.2/s"}.WithoutPassword()
	if c.URL != "rtsp://admin@10.0.0.2/s" || !c.PasswordSet {
		t.Fatalf("shown: %+v", c)
	}
	if got := KeepPassword(c.URL, "rtsp://admin:pw@10.0.0.2/s"); got != "rtsp://admin:pw@10.0.0.2/s" {
		t.Fatalf("kept: %s", got)
	}
	if got := KeepPassword("rtsp://other@10.0.0.2/s", "rtsp://admin:pw@10.0.0.2/s"); got != "rtsp://other@10.0.0.2/s" {
		t.Fatalf("other user got the password: %s", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Record
		key  string
	}{
		{"ok", Record{ID: "cam1", Name: "A", URL: "rtsp://10.0.0.2/"}, ""},
		{"bad id", Record{ID: "../x", Name: "A", URL: "rtsp://10.0.0.2/"}, "err_bad_name"},
		{"http url", Record{ID: "cam1", Name: "A", URL: "http://10.0.0.2/"}, "err_bad_url"},
		{"mode", Record{ID: "cam1", Name: "A", URL: "rtsp://10.0.0.2/", Mode: "off"}, "err_bad_request"},
		{"zone", Record{ID: "cam1", Name: "A", URL: "rtsp://10.0.0.2/", Zones: []Zone{{Kind: "zone", X0: 5, X1: 5, Y1: 1}}}, "err_bad_request"},
		{"mixed", Record{ID: "cam1", Name: "A", URL: "rtsp://10.0.0.2/", Mode: Mixed, RetentionDays: 7, EventRetentionDays: 30}, ""},
		{"mixed on the box's days", Record{ID: "cam1", Name: "A", URL: "rtsp://10.0.0.2/", Mode: Mixed, EventRetentionDays: 30}, ""},
		{"mixed without event days", Record{ID: "cam1", Name: "A", URL: "rtsp://10.0.0.2/", Mode: Mixed, RetentionDays: 7}, "err_event_retention"},
		{"mixed events not longer", Record{ID: "cam1", Name: "A", URL: "rtsp://10.0.0.2/", Mode: Mixed, RetentionDays: 7, EventRetentionDays: 7}, "err_event_retention"},
		{"event days too long", Record{ID: "cam1", Name: "A", URL: "rtsp://10.0.0.2/", Mode: Mixed, RetentionDays: 7, EventRetentionDays: 366}, "err_bad_request"},
	} {
		key, ok := tc.c.Validate()
		if key != tc.key || ok != (tc.key == "") {
			t.Errorf("%s: %q %v, want %q", tc.name, key, ok, tc.key)
		}
	}
}
