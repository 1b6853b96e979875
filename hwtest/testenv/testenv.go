// Package testenv finds the repository, its out/ folder and the outside
// tools (ffprobe, qemu, chromium) that the project's tests use as judges.
//
// A missing tool skips the test with a message naming the package to install,
// unless MATTHAN_REQUIRE_TOOLS=1 (set by .ci/run and make test), where it
// fails instead: in CI nothing may pass by being skipped.
//
// It also holds the few small helpers that tests all over the tree share
// rather than copy: ExitCode, SyncBuffer, FreeAddr, DialFrom and WaitFor.
package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	rootOnce sync.Once
	root     string
)

// RepoRoot is the folder that holds go.mod.
func RepoRoot() string {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			panic(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				panic("testenv: go.mod not found above the working directory")
			}
			dir = parent
		}
	})
	return root
}

// OutDir is the ignored build-output folder (out/ at the repository root,
// or $MATTHAN_OUT).
func OutDir() string {
	if d := os.Getenv("MATTHAN_OUT"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "out")
}

// RequireTools is true when a missing tool must fail the test, not skip it.
func RequireTools() bool { return os.Getenv("MATTHAN_REQUIRE_TOOLS") == "1" }

// LookTool returns the path of an outside program or skips (fails in CI)
// naming the Debian package that provides it.
func LookTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Missing(t, "%s not found: install the Debian package %s (make deps does it as root)", name, debianPackage)
	return ""
}

// NeedFile returns path if it exists, else skips (fails in CI) with how to make it.
func NeedFile(t testing.TB, path, howToMake string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%s missing: run %s", path, howToMake)
	}
	return path
}

// Missing skips the test, or fails it when tools are required.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if RequireTools() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

var (
	buildMu    sync.Mutex
	builtPaths = map[string]string{}
)

// BuildCommand builds a main package (an import path below the module, e.g.
// "./daemon/cmd/matthand") for the host into a temporary folder once per test
// binary and returns the executable's path.
func BuildCommand(t testing.TB, pkg string, env ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg
	for _, e := range env {
		key += " " + e
	}
	if p, ok := builtPaths[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "matthan-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	builtPaths[key] = out
	return out
}

// ExitCode is the exit status of a finished command from the error its Run,
// Wait or Output returned: 0 for nil, the process's code for an
// *exec.ExitError (-1 when a signal killed it). Any other error (the
// program could not be started) fails the test.
func ExitCode(t testing.TB, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}
