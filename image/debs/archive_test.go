package debs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/hwtest/testenv"
)

// These tests ask the Debian archive (through the build's own apt state,
// shared with make kernel in out/cache/debs).
func archiveFetcher(t *testing.T) *Fetcher {
	if testing.Short() {
		t.Skip("asks the Debian archive")
	}
	testenv.LookTool(t, "apt-get", "apt")
	testenv.LookTool(t, "dpkg", "dpkg")
	dir := filepath.Join(testenv.OutDir(), "cache", "debs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Fetcher{Dir: dir}
}

func TestStalePinNamesNewestAndTheCommand(t *testing.T) {
	f := archiveFetcher(t)
	b, err := board.Load("qemu-virt")
	if err != nil {
		t.Fatal(err)
	}
	stale := b.Kernel.DebPin
	stale.Package = "linux-image-6.1.0-1-arm64-unsigned" // long gone
	stale.Version = "6.1.4-1"
	_, err = f.Fetch(context.Background(), stale)
	var se *StaleError
	if !errors.As(err, &se) {
		t.Fatalf("Fetch of a stale pin: err = %v, want a StaleError", err)
	}
	if !strings.HasPrefix(se.Newest, "linux-image-6.1.0-") || !strings.Contains(err.Error(), RepinCommand) {
		t.Errorf("message %q should name the newest kernel and %q", err, RepinCommand)
	}
	t.Log(err)
}

func TestRepinMovesAnOldPin(t *testing.T) {
	f := archiveFetcher(t)
	raw, err := board.Raw("qemu-virt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := board.Load("qemu-virt")
	old := strings.Replace(string(raw), `"version": "`+b.Kernel.Version+`"`, `"version": "0.0-0"`, 1)
	path := filepath.Join(t.TempDir(), "board.json")
	os.WriteFile(path, []byte(old), 0o644)
	moved, err := f.Repin(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) == 0 {
		t.Fatal("Repin moved nothing")
	}
	nb, err := board.LoadFile(path)
	if err != nil {
		t.Fatalf("repinned file no longer parses: %v", err)
	}
	if nb.Kernel.Version == "0.0-0" || !nb.Kernel.InSeries(nb.Kernel.Package) {
		t.Errorf("kernel pin after repin: %+v", nb.Kernel)
	}
	t.Log(strings.Join(moved, "\n"))
}
