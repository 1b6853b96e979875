package app

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/matthan/matthan/hwtest/testenv"
)

// TestOneDirection: no package under daemon/ (its cmd/ aside) depends on
// webadmin — the admin page calls the core, never the other way — and
// HTTP routes are registered only in webadmin/ (tests, hwtest/ tools and
// cmd/ aside).
func TestOneDirection(t *testing.T) {
	root := testenv.RepoRoot()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./daemon/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, " ")
		if strings.Contains(pkg, "/cmd/") {
			continue
		}
		for _, d := range strings.Fields(deps) {
			if strings.HasPrefix(d, "github.com/matthan/matthan/webadmin") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
	routes := regexp.MustCompile(`http\.NewServeMux\(|\.HandleFunc\(|\bmux\.Handle\(|http\.Handle\(`)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			switch {
			case rel == "webadmin", rel == "hwtest", rel == "out", rel == "cache", strings.HasPrefix(d.Name(), "."),
				d.Name() == "cmd", d.Name() == "node_modules", d.Name() == "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && routes.Match(b) {
			t.Errorf("%s registers HTTP routes: they belong in webadmin's route table", rel)
		}
		return nil
	})
}
