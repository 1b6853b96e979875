package adapt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseVersion: the system page shows the image's version and build
// date (it showed "matthand"); a missing or broken file falls back to the
// program's name.
func TestReleaseVersion(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"release", `{"board":"rock64","version":"1a2b3c4","built":"2026-12-06T20:11:00Z","debug":false,"kernel":"linux 6.1"}`, "1a2b3c4 · 2026-12-06"},
		{"debug", `{"version":"1a2b3c4","built":"2026-12-06T20:11:00Z","debug":true}`, "1a2b3c4 · 2026-12-06 · debug"},
		{"noversion", `{"board":"rock64"}`, "matthand"},
		{"broken", `{"version":`, "matthand"},
		{"missing", "", "matthand"},
	} {
		p := filepath.Join(dir, tc.name+".json")
		if tc.body != "" {
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := releaseVersion(p, "matthand"); !strings.HasPrefix(got, tc.want) || (tc.want != "matthand" && got != tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := (&Stats{ReleaseFile: filepath.Join(dir, "release.json"), Version: "webtestd", DataDir: dir}).SystemStats().Version; got != "1a2b3c4 · 2026-12-06" {
		t.Errorf("SystemStats().Version = %q", got)
	}
}
