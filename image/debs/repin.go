package debs

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/matthan/matthan/board"
)

// pinStanza matches one pin in a JSON file: "package", then "version" and
// "sha256" in that order, as the project's pin files are written.
var pinStanza = regexp.MustCompile(`"package":\s*"([^"]+)"(\s*,\s*)"version":\s*"([^"]+)"(\s*,\s*)"sha256":\s*"([0-9a-f]*)"`)

// Repin rewrites every pin in a JSON file (a board.json or the userland
// package list) to the newest package in the archive, keeping the file's
// layout. A kernel pin moves to the newest ABI of its series. It returns
// one line per pin that moved.
func (f *Fetcher) Repin(ctx context.Context, path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("repin: %w", err)
	}
	var moved []string
	var firstErr error
	out := pinStanza.ReplaceAllStringFunc(string(data), func(stanza string) string {
		m := pinStanza.FindStringSubmatch(stanza)
		pkg, sep1, ver, sep2, sum := m[1], m[2], m[3], m[4], m[5]
		var c Candidate
		var err error
		if strings.HasPrefix(pkg, "linux-image-") {
			c, err = f.NewestKernel(ctx, board.KernelPin{Series: kernelSeries(pkg)})
		} else {
			c, err = f.Newest(ctx, pkg)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("repin %s: %w", pkg, err)
			}
			return stanza
		}
		if c.Package == pkg && c.Version == ver && c.SHA256 == sum {
			return stanza
		}
		moved = append(moved, fmt.Sprintf("%s: %s %s -> %s %s", path, pkg, ver, c.Package, c.Version))
		return fmt.Sprintf(`"package": %q%s"version": %q%s"sha256": %q`, c.Package, sep1, c.Version, sep2, c.SHA256)
	})
	if firstErr != nil {
		return nil, firstErr
	}
	if out != string(data) {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			return nil, fmt.Errorf("repin: %w", err)
		}
	}
	return moved, nil
}
