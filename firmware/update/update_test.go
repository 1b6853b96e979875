package update_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/firmware/dataformat"
	"github.com/matthan/matthan/firmware/internal/bootsim"
	"github.com/matthan/matthan/firmware/slot"
	"github.com/matthan/matthan/firmware/update"
)

// box is a UEFI box on folders: an ESP with slot A as the image lays it
// out, a data folder, and systemd-boot simulated by bootsim.
type box struct {
	t    *testing.T
	esp  string
	data string
	key  ed25519.PrivateKey
	u    *update.Updater
	uefi *slot.UEFI
	// running releases by slot (what each slot's initramfs would say).
	rel map[slot.Slot]firmware.Release
}

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func release(version string, counter uint64) firmware.Release {
	return firmware.Release{Board: "qemu-virt", Version: version, Built: t0, Counter: counter}
}

func newBox(t *testing.T) *box {
	root := t.TempDir()
	b := &box{t: t, esp: filepath.Join(root, "esp"), data: filepath.Join(root, "data"), rel: map[slot.Slot]firmware.Release{}}
	_, b.key, _ = ed25519.GenerateKey(rand.Reader)
	for _, d := range []string{"loader/entries", "matthan/a"} {
		os.MkdirAll(filepath.Join(b.esp, d), 0o755)
	}
	os.WriteFile(filepath.Join(b.esp, "loader/entries/matthan-a.conf"), slot.EntryFor(slot.A, 100, "console=ttyAMA0"), 0o644)
	for name, c := range map[string]string{"vmlinuz": "kernel-1", "initrd.cpio": "initrd-1", "cmdline.txt": "console=ttyAMA0\n"} {
		os.WriteFile(filepath.Join(b.esp, "matthan/a", name), []byte(c), 0o644)
	}
	os.MkdirAll(b.data, 0o755)
	os.WriteFile(filepath.Join(b.data, "users.json"), []byte(`{"users":["admin"]}`), 0o600)
	b.rel[slot.A] = release("v1", 100)
	b.uefi = &slot.UEFI{ESP: b.esp, Tries: 1}
	b.boot()
	return b
}

// boot runs the loader and "starts" the slot it chose.
func (b *box) boot() slot.Slot {
	b.t.Helper()
	cl, err := bootsim.SystemdBoot(b.esp)
	if err != nil {
		b.t.Fatal(err)
	}
	b.uefi.Cmdline = cl
	s := slot.SlotFromCmdline(cl)
	b.u = &update.Updater{Booter: b.uefi, Keys: bundle.Keys{Current: b.key.Public().(ed25519.PublicKey)},
		Running: b.rel[s], StateDir: filepath.Join(b.data, "update"), Now: func() time.Time { return t0 }}
	return s
}

// bundleOf writes a bundle of the given slot files.
func (b *box) bundleOf(rel firmware.Release, files map[string]string, omit ...string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	var srcs []bundle.Source
	for name, c := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(c), 0o644)
		s := bundle.Source{Name: name, Path: p, Compress: name == "initrd.cpio"}
		for _, o := range omit {
			s.Omit = s.Omit || o == name
		}
		srcs = append(srcs, s)
	}
	var buf bytes.Buffer
	if _, err := bundle.Write(&buf, rel, srcs, b.key); err != nil {
		b.t.Fatal(err)
	}
	return buf.Bytes()
}

func v2files() map[string]string {
	return map[string]string{"vmlinuz": "kernel-1", "initrd.cpio": strings.Repeat("initrd-2 ", 1000), "cmdline.txt": "console=ttyAMA0 v2\n"}
}

func healthy(context.Context, update.State) error { return nil }

func (b *box) install(bun []byte) (*bundle.Manifest, error) {
	var last int64
	m, err := b.u.Install(context.Background(), bytes.NewReader(bun), 2, func(n int64) { last = n })
	if err == nil && last != int64(len(bun)) {
		b.t.Fatalf("progress ended at %d of %d bytes", last, len(bun))
	}
	return m, err
}

func TestGoodUpdateStays(t *testing.T) {
	b := newBox(t)
	rel2 := release("v2", 200)
	b.rel[slot.B] = rel2
	// The kernel is unchanged: left out of the bundle, copied from slot a.
	bun := b.bundleOf(rel2, v2files(), "vmlinuz")
	m, err := b.install(bun)
	if err != nil {
		t.Fatal(err)
	}
	if m.Release.Version != "v2" {
		t.Fatalf("manifest %+v", m.Release)
	}
	if got, _ := os.ReadFile(filepath.Join(b.esp, "matthan/b/vmlinuz")); string(got) != "kernel-1" {
		t.Fatalf("omitted kernel in slot b = %q", got)
	}
	if s := b.boot(); s != slot.B {
		t.Fatalf("after install booted %s, want the trial of b", s)
	}
	var migrated bool
	out, err := b.u.AfterBoot(context.Background(), healthy, time.Minute, func(context.Context) error { migrated = true; return nil })
	if err != nil || out.Phase != update.Confirmed || !migrated {
		t.Fatalf("AfterBoot = %+v, %v, migrated %v; want confirmed and migrated", out, err, migrated)
	}
	for i := 0; i < 3; i++ {
		if s := b.boot(); s != slot.B {
			t.Fatalf("boot %d after confirm: %s", i, s)
		}
		if out, _ := b.u.AfterBoot(context.Background(), healthy, time.Minute, nil); out.Phase != "" && out.Phase != update.Confirmed {
			t.Fatalf("later boot outcome %+v", out)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(b.data, "users.json")); !strings.Contains(string(got), "admin") {
		t.Fatal("data changed by the update")
	}
}

func TestNeverHealthyRollsBack(t *testing.T) {
	b := newBox(t)
	b.rel[slot.B] = release("v2", 200)
	if _, err := b.install(b.bundleOf(b.rel[slot.B], v2files())); err != nil {
		t.Fatal(err)
	}
	if s := b.boot(); s != slot.B {
		t.Fatalf("booted %s, want b", s)
	}
	var migrated bool
	sick := func(context.Context, update.State) error { return errors.New("daemon not ready") }
	out, err := b.u.AfterBoot(context.Background(), sick, 50*time.Millisecond, func(context.Context) error { migrated = true; return nil })
	if err != nil || out.Phase != update.Failed || migrated {
		t.Fatalf("AfterBoot = %+v, %v (migrated %v); want failed, no migration", out, err, migrated)
	}
	// init reboots; the boot counter (1 try) brings a back.
	if s := b.boot(); s != slot.A {
		t.Fatalf("after the failed trial booted %s, want a", s)
	}
	out, err = b.u.AfterBoot(context.Background(), healthy, time.Minute, nil)
	if err != nil || out.Phase != update.RolledBack || !strings.Contains(out.Reason, "daemon not ready") {
		t.Fatalf("on a: %+v, %v; want rolled back with the reason", out, err)
	}
	// A later attempt starts clean.
	b.rel[slot.B] = release("v3", 300)
	if _, err := b.install(b.bundleOf(b.rel[slot.B], v2files())); err != nil {
		t.Fatalf("install after a rollback: %v", err)
	}
}

func TestRefusedLeavesSlotsAlone(t *testing.T) {
	b := newBox(t)
	other := newKeyBox(t)
	before := snapshot(t, b.esp)
	for _, tt := range []struct {
		name string
		bun  []byte
		want bundle.Reason
	}{
		{"bad signature", other.bundleOf(release("v2", 200), v2files()), bundle.BadSignature},
		{"downgrade", b.bundleOf(release("v0", 50), v2files()), bundle.OldCounter},
		{"wrong board", b.bundleOf(firmware.Release{Board: "rpi4", Version: "v2", Built: t0, Counter: 200}, v2files()), bundle.WrongBoard},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.install(tt.bun)
			if got := bundle.ReasonOf(err); got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, err, tt.want)
			}
			if after := snapshot(t, b.esp); after != before {
				t.Fatalf("the ESP changed:\n%s\nwant\n%s", after, before)
			}
			st, _ := b.u.LoadState()
			if st.Phase != update.Refused {
				t.Fatalf("state %+v, want refused", st)
			}
		})
	}
}

func TestCorruptedPartNeverArmed(t *testing.T) {
	b := newBox(t)
	bun := b.bundleOf(release("v2", 200), v2files())
	bun[len(bun)-10] ^= 1
	if _, err := b.install(bun); bundle.ReasonOf(err) != bundle.Corrupted && bundle.ReasonOf(err) != bundle.Truncated {
		t.Fatalf("got %v, want a corrupted-part refusal", err)
	}
	if s := b.boot(); s != slot.A {
		t.Fatalf("a corrupted bundle armed slot %s", s)
	}
}

// TestPowerCuts cuts the power at each phase: during writing (the slot
// is prepared, no entry), after arming (the trial boots), during the
// first boot before the health check, and after confirming. Each time
// the box boots a slot whose files are whole.
func TestPowerCuts(t *testing.T) {
	for _, phase := range []string{"writing", "armed", "first-boot", "confirmed"} {
		t.Run(phase, func(t *testing.T) {
			b := newBox(t)
			b.rel[slot.B] = release("v2", 200)
			bun := b.bundleOf(b.rel[slot.B], v2files())
			want := slot.B
			switch phase {
			case "writing":
				// The install stops for good near the end of the
				// bundle (the power is cut there): the state and the
				// slot stay as they are at that instant.
				stuck := &stuckReader{r: bytes.NewReader(bun), left: len(bun) - 9, release: make(chan struct{}), at: make(chan struct{})}
				done := make(chan struct{})
				go func() { b.u.Install(context.Background(), stuck, 2, nil); close(done) }()
				<-stuck.at
				t.Cleanup(func() { close(stuck.release); <-done })
				want = slot.A
			default:
				if _, err := b.install(bun); err != nil {
					t.Fatal(err)
				}
			}
			s := b.boot()
			if phase == "first-boot" {
				s = b.boot() // reset before the health check: the counter ran out
				want = slot.A
			}
			if phase == "confirmed" {
				if out, err := b.u.AfterBoot(context.Background(), healthy, time.Minute, nil); err != nil || out.Phase != update.Confirmed {
					t.Fatalf("%+v %v", out, err)
				}
				s = b.boot()
			}
			if s != want {
				t.Fatalf("after a cut at %s booted %s, want %s", phase, s, want)
			}
			out, err := b.u.AfterBoot(context.Background(), healthy, time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			if phase == "writing" && out.Phase != update.Interrupted {
				t.Fatalf("after a cut while writing: %+v, want interrupted", out)
			}
			if phase == "first-boot" && out.Phase != update.RolledBack {
				t.Fatalf("after a cut in the first boot: %+v, want rolled back", out)
			}
			if s := b.boot(); s != want {
				t.Fatalf("next boot %s, want %s", s, want)
			}
		})
	}
}

func newKeyBox(t *testing.T) *box { return newBox(t) }

// snapshot lists the files under dir with their contents.
func snapshot(t *testing.T, dir string) string {
	var sb strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			c, _ := os.ReadFile(p)
			sb.WriteString(strings.TrimPrefix(p, dir) + " " + string(c) + "\n")
		}
		return nil
	})
	return sb.String()
}

func TestReceive(t *testing.T) {
	b := newBox(t)
	good := b.bundleOf(release("v2", 200), v2files())
	path := filepath.Join(b.data, "update", "upload.bundle")
	m, err := b.u.Receive(bytes.NewReader(good), path)
	if err != nil || m.Release.Version != "v2" {
		t.Fatalf("Receive = %+v, %v", m, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, good) {
		t.Fatal("saved bundle differs")
	}
	// The saved file installs.
	f, _ := os.Open(path)
	defer f.Close()
	if _, err := b.u.Install(context.Background(), f, 0, nil); err != nil {
		t.Fatal(err)
	}
	// Refusals leave no file behind.
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	path2 := filepath.Join(b.data, "update", "bad.bundle")
	if _, err := b.u.Receive(bytes.NewReader(bad), path2); bundle.ReasonOf(err) == "" {
		t.Fatalf("corrupted upload: %v", err)
	}
	if _, err := os.Stat(path2); err == nil {
		t.Fatal("a refused upload was kept")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path2)); len(ents) != 2 { // upload.bundle, state.json
		t.Fatalf("left %d files in the update folder", len(ents))
	}
}

// stuckReader gives left bytes, then blocks until release (a power cut
// in the middle of a write, as far as the files go).
type stuckReader struct {
	r       io.Reader
	left    int
	at      chan struct{}
	release chan struct{}
}

func (s *stuckReader) Read(b []byte) (int, error) {
	if s.left == 0 {
		close(s.at)
		<-s.release
		return 0, errors.New("power cut")
	}
	if len(b) > s.left {
		b = b[:s.left]
	}
	n, err := s.r.Read(b)
	s.left -= n
	return n, err
}

// TestMigrationOnlyAfterConfirm: slot b's firmware brings a data-format
// migration (users.json → users-v2.json, which slot a's firmware cannot
// read). Its trial boot leaves the data as it was, byte for byte, until
// the slot is confirmed; after a failed trial slot a reads its data as
// before; after a good one the migration runs, and a cut in its middle
// is finished on the next (normal) boot.
func TestMigrationOnlyAfterConfirm(t *testing.T) {
	b := newBox(t)
	cutOnce := true
	migrationsB := []dataformat.Migration{{Name: "users as records", Steps: []dataformat.Step{
		{Name: "users-v2.json", Run: func(_ context.Context, dir string) error {
			u, err := os.ReadFile(filepath.Join(dir, "users.json"))
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "users-v2.json"), append([]byte(`{"format":2,"was":`), append(u, '}')...), 0o600)
		}},
		{Name: "remove users.json", Run: func(_ context.Context, dir string) error {
			if cutOnce {
				cutOnce = false
				return errors.New("power cut")
			}
			if err := os.Remove(filepath.Join(dir, "users.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		}},
	}}}
	firmwareOf := map[slot.Slot][]dataformat.Migration{slot.A: nil, slot.B: migrationsB}
	migrate := func(s slot.Slot) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := dataformat.Set{Dir: b.data, Migrations: firmwareOf[s]}.Run(ctx)
			return err
		}
	}
	// data is the data partition but for the update state.
	data := func() string {
		var sb strings.Builder
		filepath.Walk(b.data, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() && fi.Name() == "update" {
				return filepath.SkipDir
			}
			if err == nil && !fi.IsDir() {
				c, _ := os.ReadFile(p)
				sb.WriteString(strings.TrimPrefix(p, b.data) + " " + strings.TrimSpace(string(c)) + "\n")
			}
			return nil
		})
		return sb.String()
	}
	// Slot a's first normal boot records format 1.
	if _, err := b.u.AfterBoot(context.Background(), healthy, time.Minute, migrate(slot.A)); err != nil {
		t.Fatal(err)
	}
	before := data()
	if !strings.Contains(before, `/data-format.json {"version":1,"compat":1}`) {
		t.Fatalf("after a's boot the data is\n%s", before)
	}
	untouched := func(context.Context, update.State) error {
		if got := data(); got != before {
			t.Errorf("the trial boot changed the data:\n%s\nwas\n%s", got, before)
		}
		return errors.New("daemon not ready")
	}
	b.rel[slot.B] = release("v2", 200)
	bun := b.bundleOf(b.rel[slot.B], v2files())
	// A trial that never becomes healthy: nothing migrates, a reads its data.
	if _, err := b.install(bun); err != nil {
		t.Fatal(err)
	}
	if s := b.boot(); s != slot.B {
		t.Fatalf("booted %s, want b's trial", s)
	}
	if out, err := b.u.AfterBoot(context.Background(), untouched, 30*time.Millisecond, migrate(slot.B)); err != nil || out.Phase != update.Failed {
		t.Fatalf("failed trial: %+v %v", out, err)
	}
	if s := b.boot(); s != slot.A {
		t.Fatalf("booted %s, want a after the failed trial", s)
	}
	if out, err := b.u.AfterBoot(context.Background(), healthy, time.Minute, migrate(slot.A)); err != nil || out.Phase != update.RolledBack {
		t.Fatalf("on a after the rollback: %+v %v", out, err)
	}
	if got := data(); got != before {
		t.Fatalf("after the rollback the data is\n%s\nwant\n%s", got, before)
	}
	// A trial that becomes healthy: confirmed, then migrated; the cut in
	// the second step leaves the journal, the next boot finishes.
	if _, err := b.install(bun); err != nil {
		t.Fatal(err)
	}
	b.boot()
	calls := 0
	healthyLater := func(ctx context.Context, st update.State) error {
		if calls++; calls < 2 {
			return untouched(ctx, st)
		}
		untouched(ctx, st)
		return nil
	}
	out, err := b.u.AfterBoot(context.Background(), healthyLater, time.Minute, migrate(slot.B))
	if out.Phase != update.Confirmed || err == nil || !strings.Contains(err.Error(), "power cut") {
		t.Fatalf("confirmed trial with a cut migration: %+v %v", out, err)
	}
	if f, _ := dataformat.Load(b.data); f.Version != 1 || f.Migrating == nil || f.Migrating.Done != 1 {
		t.Fatalf("after the cut: %+v", f)
	}
	if s := b.boot(); s != slot.B {
		t.Fatalf("booted %s after confirming b", s)
	}
	if out, err := b.u.AfterBoot(context.Background(), healthy, time.Minute, migrate(slot.B)); err != nil || out.Phase != "" {
		t.Fatalf("next boot of b: %+v %v", out, err)
	}
	after := data()
	if !strings.Contains(after, `/data-format.json {"version":2,"compat":2}`) || !strings.Contains(after, `/users-v2.json {"format":2,"was":{"users":["admin"]}}`) || strings.Contains(after, "/users.json") {
		t.Fatalf("after the migration the data is\n%s", after)
	}
	// Slot a's firmware (reflashed by hand) finds format 2: it touches nothing.
	res, err := dataformat.Set{Dir: b.data}.Run(context.Background())
	if err != nil || !res.Newer || res.Compatible {
		t.Fatalf("older firmware on newer data: %+v %v", res, err)
	}
	if got := data(); got != after {
		t.Fatalf("older firmware changed newer data:\n%s", got)
	}
}
