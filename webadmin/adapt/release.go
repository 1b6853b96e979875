package adapt

import (
	"encoding/json"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

// ReleaseFile is where the image builder writes the firmware's release
// (image/build: board, version, build date).
const ReleaseFile = "/etc/matthan/release.json"

// releaseVersion reads the version and build date the image builder
// wrote at path: "a1b2c3d · 2026-12-06"; without that file (a
// development build), fallback with the commit Go stamped into the binary.
func releaseVersion(path, fallback string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return devVersion(fallback)
	}
	var rel struct {
		Version string    `json:"version"`
		Built   time.Time `json:"built"`
		Debug   bool      `json:"debug"`
	}
	if json.Unmarshal(b, &rel) != nil || rel.Version == "" {
		return devVersion(fallback)
	}
	parts := []string{rel.Version}
	if !rel.Built.IsZero() {
		parts = append(parts, rel.Built.UTC().Format("2006-01-02"))
	}
	if rel.Debug {
		parts = append(parts, "debug")
	}
	return strings.Join(parts, " · ")
}

// devVersion is name plus the commit and its date from the binary's build
// information, when go build recorded them.
func devVersion(name string) string {
	parts := []string{name}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, k := range []string{"vcs.revision", "vcs.time"} {
			for _, st := range bi.Settings {
				if st.Key == k && st.Value != "" {
					parts = append(parts, st.Value[:min(len(st.Value), 10)])
				}
			}
		}
	}
	return strings.Join(parts, " · ")
}
