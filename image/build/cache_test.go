package build

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Several builds filling one cache folder at once (the image and the boot
// tests run in parallel) all succeed and all see a whole folder.
func TestFillOnceConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "unpacked", "linux-image")
	// A stale half-made folder from a crashed build must be replaced.
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fillOnce(dir, func(tmp string) error {
				for j := 0; j < 20; j++ {
					if err := os.WriteFile(filepath.Join(tmp, fmt.Sprintf("f%02d", j)), []byte("x"), 0o644); err != nil {
						return err
					}
					time.Sleep(time.Millisecond)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("build %d: %v", i, err)
		}
	}
	for j := 0; j < 20; j++ {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("f%02d", j))); err != nil {
			t.Errorf("cache folder incomplete: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".done")); err != nil {
		t.Errorf("no .done: %v", err)
	}
	left, _ := filepath.Glob(dir + ".tmp-*")
	if len(left) != 0 {
		t.Errorf("temporary folders left behind: %v", left)
	}
}

// A failed fill leaves no cache folder behind.
func TestFillOnceFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if err := fillOnce(dir, func(string) error { return fmt.Errorf("dpkg-deb failed") }); err == nil {
		t.Fatal("fillOnce with a failing fill returned nil")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cache folder exists after a failed fill: %v", err)
	}
}
