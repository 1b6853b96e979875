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
// webadmin — the admin page calls the core, never the other way — nothing
// under daemon/ or webadmin/ (programs and tests included) imports init/,
// the firmware's PID 1: what both need lives below both, in firmware/ or
// board/; firmware/, board/ and image/ import none of the programs nor the
// test tooling; and HTTP routes are registered only in webadmin/ (tests,
// hwtest/ tools and cmd/ aside).
func TestOneDirection(t *testing.T) {
	root := testenv.RepoRoot()
	const mod = "github.com/matthan/matthan/"
	for _, line := range goList(t, root, `{{.ImportPath}} {{join .Deps " "}}`, "./daemon/...") {
		pkg, deps, _ := strings.Cut(line, " ")
		if strings.Contains(pkg, "/cmd/") {
			continue
		}
		for _, d := range strings.Fields(deps) {
			if strings.HasPrefix(d, mod+"webadmin") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
	// Everything a package is built from, and what its tests import.
	for _, line := range goList(t, root, `{{.ImportPath}} {{join .Deps " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./daemon/...", "./webadmin/...") {
		pkg, imps, _ := strings.Cut(line, " ")
		for _, d := range strings.Fields(imps) {
			if d == mod+"init" || strings.HasPrefix(d, mod+"init/") {
				t.Errorf("%s depends on %s: init/ is the firmware's PID 1; move what both need below both (firmware/ or board/)", pkg, d)
			}
		}
	}
	// The lowest floors: firmware/ and board/ are shared by every program
	// of the box, image/ is the build that lays them out; none of them
	// reaches up into the programs (daemon, admin page, init) or the test
	// tooling.
	for _, line := range goList(t, root, `{{.ImportPath}} {{join .Deps " "}}`, "./firmware/...", "./board/...", "./image/...") {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, d := range strings.Fields(deps) {
			for _, up := range []string{"daemon", "webadmin", "init", "hwtest"} {
				if d == mod+up || strings.HasPrefix(d, mod+up+"/") {
					t.Errorf("%s depends on %s: firmware/, board/ and image/ stay below the programs and the test tooling", pkg, d)
				}
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

// goList runs go list -f format over the patterns in the repository and
// returns its lines.
func goList(t *testing.T, root, format string, patterns ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", format}, patterns...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", patterns, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
