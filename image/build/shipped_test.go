package build

import (
	"bufio"
	"bytes"
	"os/exec"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/matthan/matthan/hwtest/testenv"
)

const module = "github.com/matthan/matthan/"

// testTooling says why pkg (an import path; std says whether it is in the
// standard library) is test tooling that no program in the image may link,
// or "" when it is not.
func testTooling(pkg string, std bool) string {
	if std {
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") || pkg == "net/http/httptest" {
			return "the standard library's test support"
		}
		return ""
	}
	if _, ok := linkedByDependency[pkg]; ok {
		return ""
	}
	for _, el := range strings.Split(pkg, "/") {
		switch {
		case el == "selftest", el == "matthan-selftest", el == "hwtest":
			// The technician's self-test ships (bin/matthan-selftest);
			// hwtest/ as a whole is judged below.
		case el == "testenv", el == "camsim", el == "faultfs", el == "recordtest",
			el == "adminclient", el == "motionbench", el == "scenes", el == "e2e":
			return "a test helper (" + el + ")"
		case strings.HasSuffix(el, "test"), strings.HasPrefix(el, "test"):
			return "a test helper (" + el + ")"
		}
	}
	if strings.HasPrefix(pkg, module+"hwtest/") && !strings.HasPrefix(pkg, module+"hwtest/selftest") &&
		!strings.HasPrefix(pkg, module+"hwtest/cmd/matthan-selftest") {
		return "hwtest tooling other than the self-test"
	}
	return ""
}

// linkedByDependency are packages named like test helpers that a
// dependency links and the program never calls, with why they are there.
var linkedByDependency = map[string]string{
	// github.com/google/nftables (the camera network's fence): its
	// ConnOption WithTestDial names nltest.Func; only tests set it. It
	// does not link the standard library's testing.
	"github.com/mdlayher/netlink/nltest": "github.com/google/nftables",
}

// layering lists, per program of the image, module trees its dependencies
// must not reach: init runs the self-test as a program and imports nothing
// from hwtest/; the self-test imports nothing from init/.
var layering = map[string][]string{
	"init":                 {module + "hwtest/"},
	"bin/matthan-selftest": {module + "init/"},
}

type dep struct {
	path string
	std  bool
}

// shippedProblems judges the dependencies of the program installed at dst.
func shippedProblems(dst string, deps []dep) []string {
	var bad []string
	for _, d := range deps {
		if why := testTooling(d.path, d.std); why != "" {
			bad = append(bad, d.path+": "+why)
		}
		for _, tree := range layering[dst] {
			if strings.HasPrefix(d.path, tree) {
				bad = append(bad, d.path+": "+path.Base(dst)+" must not import "+strings.TrimPrefix(tree, module))
			}
		}
	}
	sort.Strings(bad)
	return slices.Compact(bad)
}

func TestShippedProblems(t *testing.T) {
	for _, tt := range []struct {
		dst  string
		dep  dep
		want bool
	}{
		{"bin/matthand", dep{"testing", true}, true},
		{"bin/matthand", dep{"net/http/httptest", true}, true},
		{"bin/matthand", dep{"internal/synctest", true}, false},
		{"bin/matthand", dep{"internal/testlog", true}, false},
		{"bin/matthand", dep{"net/http", true}, false},
		{"bin/matthand", dep{module + "hwtest/testenv", false}, true},
		{"bin/matthand", dep{module + "daemon/internal/recordtest", false}, true},
		{"bin/matthand", dep{module + "daemon/internal/faultfs", false}, true},
		{"bin/matthand", dep{module + "hwtest/camsim", false}, true},
		{"bin/matthand", dep{module + "hwtest/camsim/camsimtest", false}, true},
		{"bin/matthand", dep{module + "hwtest/adminclient", false}, true},
		{"bin/matthand", dep{module + "hwtest/qemu", false}, true},
		{"bin/matthand", dep{module + "daemon/motion/internal/motionbench", false}, true},
		{"bin/matthand", dep{"periph.io/x/conn/v3/gpio/gpiotest", false}, true},
		{"bin/matthand", dep{"github.com/mdlayher/netlink/nltest", false}, false},
		{"bin/matthand", dep{module + "daemon/record", false}, false},
		{"bin/matthand", dep{module + "daemon/storage", false}, false},
		{"bin/matthan-selftest", dep{module + "hwtest/selftest", false}, false},
		{"bin/matthan-selftest", dep{module + "init/health", false}, true},
		{"bin/matthan-selftest", dep{module + "firmware/health", false}, false},
		{"init", dep{module + "hwtest/selftest", false}, true},
		{"init", dep{module + "init/pid1", false}, false},
	} {
		got := len(shippedProblems(tt.dst, []dep{tt.dep})) > 0
		if got != tt.want {
			t.Errorf("%s linking %s: flagged %v, want %v", tt.dst, tt.dep.path, got, tt.want)
		}
	}
}

// TestShippedLinksNoTestTooling builds the dependency list of every
// program that goes into the image, for the box's platform, and fails if
// any of them links test tooling or crosses the init/self-test boundary.
func TestShippedLinksNoTestTooling(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	for _, dst := range sortedKeys(Programs) {
		pkg := Programs[dst]
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg)
		cmd.Dir = testenv.RepoRoot()
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.Bytes())
		}
		var deps []dep
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			p, std, _ := strings.Cut(sc.Text(), " ")
			deps = append(deps, dep{p, std == "true"})
		}
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s: only %d packages: %q", pkg, len(deps), out)
		}
		for _, p := range shippedProblems(dst, deps) {
			t.Errorf("%s (%s) links %s", dst, pkg, p)
		}
	}
}
