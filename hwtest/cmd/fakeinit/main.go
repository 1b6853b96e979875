// Command fakeinit stands in for the box's init in the admin page's
// browser tests of firmware updates: it serves init's control socket
// (firmware/control's protocol) and installs bundles with the real
// firmware/update flow into a UEFI boot partition made of folders
// (firmware/slot over DIR/esp, slot a running), as init does, reporting
// the same progress lines. It never reboots: it says it would.
//
// At start it makes, in DIR, a test signing key and the public keys a box
// trusts (update-keys), the running release (release.json: qemu-virt,
// counter 100), slot a, and bundles written with the project's bundle
// writer (bundles/): good.bundle (counter 200, the kernel left out as
// unchanged, a 6 MiB initramfs stored raw so an upload takes a moment),
// wrong-board.bundle (rpi4) and bad-signature.bundle (another key). It
// prints
//
//	READY socket=DIR/init.sock release=... keys=... bundles=DIR/bundles
//
// then serves until SIGTERM. Test tooling: nothing shipped imports it.
//
//	fakeinit -dir DIR -data WEBTESTD_DATA
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/firmware/control"
	"github.com/matthan/matthan/firmware/slot"
	"github.com/matthan/matthan/firmware/update"
)

func main() {
	dir := flag.String("dir", "", "folder for the key, release, boot partition, bundles and socket")
	data := flag.String("data", "", "the data folder (webtestd's -data): bundles to install must be under it")
	delay := flag.Duration("line-delay", 80*time.Millisecond, "pause after each progress line (so a page shows the install moving)")
	flag.Parse()
	if *dir == "" || *data == "" {
		log.Fatal("fakeinit: -dir and -data are required")
	}
	f, err := setup(*dir, *data, *delay)
	if err != nil {
		log.Fatalf("fakeinit: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sock := filepath.Join(*dir, "init.sock")
	errc := make(chan error, 1)
	go func() { errc <- control.Serve(ctx, sock, f) }()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("READY socket=%s release=%s keys=%s bundles=%s\n", sock, filepath.Join(*dir, "release.json"),
		filepath.Join(*dir, "update-keys"), filepath.Join(*dir, "bundles"))
	if err := <-errc; err != nil {
		log.Fatalf("fakeinit: %v", err)
	}
}

var built = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// fakeInit answers the control socket's commands.
type fakeInit struct {
	data  string
	u     *update.Updater
	delay time.Duration
	mu    sync.Mutex
	log   []string
}

func (f *fakeInit) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.log = append(f.log, line)
	f.mu.Unlock()
	fmt.Println("fakeinit: " + line)
}

func (f *fakeInit) Log() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []byte(strings.Join(f.log, "\n") + "\n")
}

func (f *fakeInit) Status() any {
	return map[string]any{"board": f.u.Running.Board, "release": f.u.Running, "fake": true}
}

func (f *fakeInit) Shutdown(reboot bool) { f.logf("shutdown requested (reboot %v): not done", reboot) }

// Update installs the bundle at path as init does: into the other slot,
// with "progress N%" lines every 5 %, then the line init writes before
// it reboots.
func (f *fakeInit) Update(path string, w io.Writer) error {
	if !strings.HasPrefix(filepath.Clean(path), filepath.Clean(f.data)+"/") {
		return fmt.Errorf("update: %s is not on the data partition", path)
	}
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	last := -1
	progress := func(n int64) {
		if pct := int(n * 100 / max(st.Size(), 1)); pct/5 != last/5 {
			last = pct
			fmt.Fprintf(w, "progress %d%%\n", pct)
			time.Sleep(f.delay)
		}
	}
	f.logf("update: installing %s (%d bytes)", path, st.Size())
	m, err := f.u.Install(context.Background(), file, 0, progress)
	if err != nil {
		f.logf("update: %v", err)
		return err
	}
	fmt.Fprintf(w, "installed %s counter %d: rebooting\n", m.Release.Version, m.Release.Counter)
	f.logf("update: %s (counter %d) written and armed; a box would reboot now", m.Release.Version, m.Release.Counter)
	return nil
}

// setup makes the key, the trusted keys, the release, slot a and the bundles.
func setup(dir, data string, delay time.Duration) (*fakeInit, error) {
	for _, d := range []string{"esp/loader/entries", "esp/matthan/a", "parts", "bundles"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	pub, err := bundle.GenerateKey(filepath.Join(dir, "test.key"))
	if err != nil {
		return nil, err
	}
	key, err := bundle.LoadPrivateKey(filepath.Join(dir, "test.key"))
	if err != nil {
		return nil, err
	}
	keys := bundle.Keys{Current: pub}
	if err := os.WriteFile(filepath.Join(dir, "update-keys"), bundle.FormatKeys(keys), 0o644); err != nil {
		return nil, err
	}
	running := firmware.Release{Board: "qemu-virt", Version: "e2e-v1", Built: built, Counter: 100}
	if err := running.WriteFile(filepath.Join(dir, "release.json")); err != nil {
		return nil, err
	}
	esp := filepath.Join(dir, "esp")
	kernel := []byte("a kernel that both releases share\n")
	files := map[string][]byte{"vmlinuz": kernel, "initrd.cpio": []byte("initramfs e2e-v1\n"), "cmdline.txt": []byte("console=ttyAMA0\n")}
	for name, c := range files {
		if err := os.WriteFile(filepath.Join(esp, "matthan/a", name), c, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(esp, "loader/entries/matthan-a.conf"), slot.EntryFor(slot.A, running.Counter, "console=ttyAMA0"), 0o644); err != nil {
		return nil, err
	}
	// The new release's parts: the same kernel (left out), a new
	// initramfs of random bytes (incompressible: stored raw, 6 MiB).
	initrd := make([]byte, 6<<20)
	rand.Read(initrd)
	parts := map[string][]byte{"vmlinuz": kernel, "initrd.cpio": initrd, "cmdline.txt": []byte("console=ttyAMA0 quiet\n")}
	var srcs []bundle.Source
	for _, name := range []string{"vmlinuz", "initrd.cpio", "cmdline.txt"} {
		p := filepath.Join(dir, "parts", name)
		if err := os.WriteFile(p, parts[name], 0o644); err != nil {
			return nil, err
		}
		srcs = append(srcs, bundle.Source{Name: name, Path: p, Omit: name == "vmlinuz"})
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	next := firmware.Release{Board: "qemu-virt", Version: "e2e-v2", Built: built.Add(24 * time.Hour), Counter: 200}
	pi := next
	pi.Board = "rpi4"
	for _, b := range []struct {
		name string
		rel  firmware.Release
		key  ed25519.PrivateKey
	}{{"good.bundle", next, key}, {"wrong-board.bundle", pi, key}, {"bad-signature.bundle", next, other}} {
		out, err := os.Create(filepath.Join(dir, "bundles", b.name))
		if err != nil {
			return nil, err
		}
		_, err = bundle.Write(out, b.rel, srcs, b.key)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", b.name, err)
		}
	}
	u := &update.Updater{Booter: &slot.UEFI{ESP: esp, Cmdline: "console=ttyAMA0 matthan.slot=a", Tries: 3},
		Keys: keys, Running: running, StateDir: filepath.Join(data, "update")}
	if _, err := u.Booter.Running(); err != nil {
		return nil, errors.Join(errors.New("slot a as laid out"), err)
	}
	return &fakeInit{data: data, u: u, delay: delay}, nil
}
