package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Tmpfs mounts a tmpfs with the given mount options (size=8m,
// nr_inodes=64 …) on a new temporary directory and unmounts it at the end
// of the test: a real small disk to fill up. It needs root and skips the
// test otherwise.
func Tmpfs(t testing.TB, options string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// FillInodes makes empty files in dir until no more can be made and
// returns their names (remove them to give the inodes back).
func FillInodes(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	for i := 0; ; i++ {
		name := filepath.Join(dir, fmt.Sprintf("inode-%05d", i))
		f, err := os.Create(name)
		if err != nil {
			return names
		}
		f.Close()
		names = append(names, name)
		if i > 1<<20 {
			t.Fatalf("made %d files in %s and it is not full", i, dir)
		}
	}
}
