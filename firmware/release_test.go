package firmware

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// oldRelease is release.json as image/build wrote it before Release
// existed (a map, keys sorted): every image in the field carries this.
const oldRelease = `{
  "board": "qemu-virt",
  "built": "2026-01-02T03:04:05Z",
  "debug": false,
  "kernel": "linux-image-6.1.0-41-arm64 6.1.158-1",
  "version": "4fe2325"
}
`

func TestParseOldRelease(t *testing.T) {
	r, err := Parse([]byte(oldRelease))
	if err != nil {
		t.Fatal(err)
	}
	want := Release{Board: "qemu-virt", Version: "4fe2325", Built: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Kernel: "linux-image-6.1.0-41-arm64 6.1.158-1"}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
}

// TestMarshalKeepsNames: a release written now has the same field names as
// before (so an older init reads it) plus the hashes, and reads back equal.
func TestMarshalKeepsNames(t *testing.T) {
	r := Release{Board: "rpi4", Version: "abc1234", Built: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Debug: true,
		Kernel: "linux-image-arm64 1", Hashes: &Hashes{Kernel: "aa", Initramfs: "bb", Image: "cc"}}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"board", "version", "built", "debug", "kernel", "hashes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if !strings.HasSuffix(string(b), "}\n") {
		t.Errorf("no final newline: %q", b)
	}
	path := filepath.Join(t.TempDir(), FileName)
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("read back %+v, want %+v", back, r)
	}
	r.Hashes = nil
	b, _ = r.Marshal()
	if strings.Contains(string(b), "hashes") {
		t.Errorf("a release without hashes writes them: %s", b)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"not JSON", "release", "invalid character"},
		{"no board", `{"version":"a","built":"2026-01-02T03:04:05Z"}`, "no board"},
		{"no version", `{"board":"b","built":"2026-01-02T03:04:05Z"}`, "no version"},
		{"no date", `{"board":"b","version":"a"}`, "no source date"},
		{"bad date", `{"board":"b","version":"a","built":"yesterday"}`, "cannot parse"},
		{"too large", `{"board":"` + strings.Repeat("x", maxSize) + `"}`, "more than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := (Release{}).Marshal(); err == nil {
		t.Error("an empty release was written")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file loaded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(oldRelease))
	f.Add([]byte(`{"board":"b","version":"v","built":"2026-01-02T03:04:05Z","hashes":{"kernel":"a","initramfs":"b"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("parsed release does not write: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("written release does not parse: %v\n%s", err, out)
		}
		if !again.Built.Equal(r.Built) || again.Board != r.Board || again.Version != r.Version {
			t.Fatalf("round trip changed %+v to %+v", r, again)
		}
	})
}
