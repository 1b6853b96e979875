package qemu_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/board"
	fwrelease "github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/qemu"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/matthan/matthan/image/build"
)

// updateSet is what the update test boots and sends: image A (counter
// 1000, trusting a test key made for the run) and signed bundles: B
// (1001, healthy), C (1002, B's parts with matthan.test.nodaemon=1 on
// its command line: its daemon never answers, so it never passes its
// health check), a downgrade (999) and one signed by another key. The
// bundles are built while A boots (bundles waits for them).
type updateSet struct {
	image string

	done                        chan struct{}
	err                         error
	good, sick, old, foreignSig string
	// again writes a good bundle (B's parts) with another counter: the
	// power-cut runs need a newer one each time.
	again   func(counter uint64) (string, error)
	goodRel fwrelease.Release
}

// bundles waits for the bundles.
func (s *updateSet) bundles(t *testing.T) {
	t.Helper()
	<-s.done
	if s.err != nil {
		t.Fatalf("build the update bundles: %v", s.err)
	}
}

var (
	updateOnce  sync.Once
	updateBuilt *updateSet
	updateErr   error
	updateDir   string // removed by TestMain
)

const updateArgs = " matthan.update_deadline=60s matthan.update_tries=1"

func updateFirmware(t *testing.T) *updateSet {
	t.Helper()
	needQEMU(t) // tools checked, camera port chosen
	testenv.NeedFile(t, qemu.UEFIFirmware, "apt-get install qemu-efi-aarch64")
	updateOnce.Do(func() { updateBuilt, updateErr = buildUpdateSet() })
	if updateErr != nil {
		t.Fatalf("build the update firmware: %v", updateErr)
	}
	return updateBuilt
}

// buildUpdateSet builds image A and returns; B (which differs from A only
// in its counter) is built in the background, and the other bundles made
// from its parts.
func buildUpdateSet() (*updateSet, error) {
	dir, err := os.MkdirTemp("", "matthan-update-")
	if err != nil {
		return nil, err
	}
	updateDir = dir
	keyFile, pubFile := filepath.Join(dir, "test.key"), filepath.Join(dir, "test.pub")
	pub, err := bundle.GenerateKey(keyFile)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(pubFile, bundle.FormatKeys(bundle.Keys{Current: pub}), 0o644); err != nil {
		return nil, err
	}
	key, err := bundle.LoadPrivateKey(keyFile)
	if err != nil {
		return nil, err
	}
	opts := func(name string, counter uint64, cmdline string) build.Options {
		return build.Options{Board: "qemu-virt", Repo: testenv.RepoRoot(), Out: filepath.Join(dir, name),
			Cache: filepath.Join(testenv.OutDir(), "cache"), Cmdline: cmdline, Counter: counter, UpdateKeys: pubFile}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	a, err := build.Build(ctx, opts("a", 1000, guestCameras()+updateArgs))
	if err != nil {
		cancel()
		return nil, err
	}
	s := &updateSet{image: a.Image, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer cancel()
		s.err = s.buildBundles(ctx, dir, a, key, opts)
	}()
	return s, nil
}

// buildBundles builds B and writes the other bundles into dir from B's
// parts with other manifests. C leaves the kernel and the initramfs out
// (the running slot, B, has the same: the box copies them) and changes
// only the command line, so it costs no build and a small upload.
func (s *updateSet) buildBundles(ctx context.Context, dir string, a *build.Result, key ed25519.PrivateKey, opts func(string, uint64, string) build.Options) error {
	o := opts("b", 1001, guestCameras()+updateArgs)
	o.NoDisk, o.BundleKey, o.BundleSince, o.BundleRaw = true, key, &a.Firmware, true
	b, err := build.Build(ctx, o)
	if err != nil {
		return err
	}
	s.good, s.goodRel = b.Bundle, b.Firmware
	brd, err := board.Load("qemu-virt")
	if err != nil {
		return err
	}
	cmdline := func(name, args string) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(brd.Cmdline+" "+guestCameras()+args+"\n"), 0o644)
	}
	good, err := cmdline("cmdline.txt", updateArgs)
	if err != nil {
		return err
	}
	// C's own deadline is short: it never gets healthy anyway.
	sick, err := cmdline("cmdline-sick.txt", " matthan.test.nodaemon=1 matthan.update_deadline=10s matthan.update_tries=1")
	if err != nil {
		return err
	}
	write := func(name string, counter uint64, k ed25519.PrivateKey, srcs []bundle.Source) (string, error) {
		rel := b.Firmware
		rel.Counter = counter
		var buf bytes.Buffer
		if _, err := bundle.Write(&buf, rel, srcs, k); err != nil {
			return "", err
		}
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, buf.Bytes(), 0o644)
	}
	full := []bundle.Source{{Name: "initrd.cpio", Path: b.Initramfs}, {Name: "cmdline.txt", Path: good}}
	s.again = func(counter uint64) (string, error) {
		return write(fmt.Sprintf("again-%d.bundle", counter), counter, key, full)
	}
	if s.sick, err = write("sick.bundle", 1002, key, []bundle.Source{{Name: "vmlinuz", Path: a.Kernel, Omit: true},
		{Name: "initrd.cpio", Path: b.Initramfs, Omit: true}, {Name: "cmdline.txt", Path: sick}}); err != nil {
		return err
	}
	// The downgrade and the foreign signature: B's parts, other manifests.
	if s.old, err = write("old.bundle", 999, key, full); err != nil {
		return err
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	s.foreignSig, err = write("foreign.bundle", 1003, other, full)
	return err
}

// technician logs in to the machine's page as the technician (after
// first-boot setup, which admin() does).
func technician(t *testing.T, m *qemu.Machine) *adminclient.Client {
	t.Helper()
	if _, err := admin(m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := adminclient.Login(ctx, m.AdminURL(""), "", adminclient.Technician)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// slow is the session's client with room for a 38 MB upload checked by
// an emulated CPU (adminclient's 2 min limit is too short under load).
func slow(c *adminclient.Client) *http.Client {
	hc := *c.Client
	hc.Timeout = 10 * time.Minute
	return &hc
}

// upload posts a bundle; it returns the status and the answer.
func upload(t *testing.T, c *adminclient.Client, path string) (int, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", c.Base+"/api/firmware/bundle", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-CSRF-Token", c.CSRF)
	resp, err := slow(c).Do(req)
	if err != nil {
		t.Fatalf("upload %s: %v", filepath.Base(path), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// install asks for the install and returns its answer (the box reboots
// after "ok").
func install(t *testing.T, c *adminclient.Client) string {
	t.Helper()
	req, _ := http.NewRequest("POST", c.Base+"/api/firmware/install", nil)
	req.Header.Set("X-CSRF-Token", c.CSRF)
	resp, err := slow(c).Do(req)
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

var (
	slotConfirmed = func(s string) *regexp.Regexp {
		return regexp.MustCompile(`update +ok: slot ` + s + ` confirmed`)
	}
	slotBooted = func(s string) *regexp.Regexp { return regexp.MustCompile(`update +(ok|FAILED): .*slot ` + s) }
	rolledBack = regexp.MustCompile(`update +FAILED: Cập nhật thất bại, đã quay về phiên bản cũ`)
	trialSick  = regexp.MustCompile(`update +FAILED: slot a not healthy`)
)

// TestUpdateUEFI boots real images under UEFI and goes through the
// update cases on one disk, sharing boots: refusals (foreign signature,
// downgrade) on A; the good update A→B, which must come up healthy, stay,
// and keep users and recordings; then a bundle that never gets healthy,
// which the box rolls back by itself (to B). With MATTHAN_UPDATE_CUT=1
// (make soak-update) a power cut at a seeded random phase comes first.
func TestUpdateUEFI(t *testing.T) {
	began := time.Now()
	mark := func(what string) { t.Logf("update test at %5.1f s: %s", time.Since(began).Seconds(), what) }
	set := updateFirmware(t)
	mark("firmware built")
	startCameras(t)
	disk := copyDisk(t, set.image)
	if n, _ := strconv.Atoi(os.Getenv("MATTHAN_UPDATE_CUTS")); n > 1 {
		// The soak records for half an hour: room on a sparse 16 GiB
		// disk (init grows the data partition on first boot), so that
		// retention keeps the first segment the test looks for.
		if err := os.Truncate(disk, 16<<30); err != nil {
			t.Fatal(err)
		}
	}

	m := boot(t, qemu.Options{Disk: disk})
	waitLine(t, m, readyLine, 3*time.Minute)
	mark("A ready")
	// init checked the boot partition before mounting it (fsck.fat -a):
	// a fresh image is clean.
	waitLine(t, m, bootfsClean, time.Minute)
	waitRecorded(t, m, 3*time.Second, 2*time.Minute)
	before, err := segments(m, cameras[0])
	if err != nil || len(before) == 0 {
		t.Fatalf("segments before the update: %v %v", before, err)
	}
	// The camera's first segment: every later listing must still start
	// with it (users and recordings survive updates, rollbacks and cuts).
	first := before[0].Start
	tech := technician(t, m)
	set.bundles(t)
	mark("bundles built")

	for _, tt := range []struct {
		name, file, want string
	}{
		{"foreign signature", set.foreignSig, "Chữ ký của gói cập nhật không hợp lệ"},
		{"downgrade", set.old, "không hạ cấp"},
	} {
		if status, body := upload(t, tech, tt.file); status != 422 || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s; want 422 with %q", tt.name, status, body, tt.want)
		}
	}

	mark("A recorded, refusals done")
	// A → B.
	start := time.Now()
	if status, body := upload(t, tech, set.good); status != 200 || !strings.Contains(body, set.goodRel.Version) {
		t.Fatalf("good bundle: %d %s", status, body)
	}
	if ans := install(t, tech); !strings.HasSuffix(ans, "ok\n") {
		t.Fatalf("install: %q", ans)
	}
	if err := m.Wait(2 * time.Minute); err != nil {
		t.Logf("QEMU after the install's reboot: %v", err)
	}
	m = boot(t, qemu.Options{Disk: disk})
	waitLine(t, m, slotConfirmed("b"), 4*time.Minute)
	mark("B confirmed")
	fmt.Printf("BENCH update_apply_s %.1f s (upload to a healthy new slot, TCG)\n", time.Since(start).Seconds())
	// Users and recordings survive: the officer logs in, the recording
	// from before the update is still listed.
	segs, err := segments(m, cameras[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) == 0 || !segs[0].Start.Equal(first) {
		t.Fatalf("recordings from before the update are gone: first segment now %v, before %v", segs, first)
	}
	tech = technician(t, m)

	mark("B checked")
	// B → C, whose daemon never becomes ready: C's init reboots after its
	// deadline, the boot counter (1 try) is spent, and B boots again.
	if status, body := upload(t, tech, set.sick); status != 200 {
		t.Fatalf("never-healthy bundle: %d %s", status, body)
	}
	if ans := install(t, tech); !strings.HasSuffix(ans, "ok\n") {
		t.Fatalf("install: %q", ans)
	}
	m.Wait(2 * time.Minute)
	m = boot(t, qemu.Options{Disk: disk})
	waitLine(t, m, trialSick, 4*time.Minute)
	m.Wait(2 * time.Minute)
	m = boot(t, qemu.Options{Disk: disk})
	waitLine(t, m, rolledBack, 4*time.Minute)
	tech = technician(t, m)
	var st map[string]any
	if err := tech.GetJSON(context.Background(), "/api/firmware", &st); err != nil || !strings.Contains(fmt.Sprint(st["message"]), "Cập nhật thất bại, đã quay về phiên bản cũ") {
		t.Fatalf("the page after the rollback: %v %v", st, err)
	}
	if segs2, err := segments(m, cameras[0]); err != nil || len(segs2) < len(segs) {
		t.Fatalf("recordings after the rollback: %d, before %d (%v)", len(segs2), len(segs), err)
	}

	// Power cuts at seeded random phases (MATTHAN_UPDATE_CUTS, default 1;
	// make soak-update runs 20). MATTHAN_UPDATE_SEED repeats a run.
	cuts, seed := 1, uint64(time.Now().UnixNano())
	if n, err := strconv.Atoi(os.Getenv("MATTHAN_UPDATE_CUTS")); err == nil && n > 0 {
		cuts = n
	}
	if s, err := strconv.ParseUint(os.Getenv("MATTHAN_UPDATE_SEED"), 10, 64); err == nil {
		seed = s
	}
	mark("C rolled back")
	t.Logf("power cuts: %d, seed %d (MATTHAN_UPDATE_SEED=%d repeats them)", cuts, seed, seed)
	rng := mrand.New(mrand.NewPCG(seed, 1))
	survived := 0
	for i := 0; i < cuts; i++ {
		phase := cutPhases[rng.IntN(len(cutPhases))]
		path, err := set.again(uint64(2000 + i))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("cut %d: %s", i+1, phase)
		m = cutUpdate(t, m, disk, path, phase, rng)
		os.Remove(path) // 47 MB each: 20 of them would fill /tmp
		survived++
		mark(fmt.Sprintf("cut %d (%s) survived", i+1, phase))
	}
	fmt.Printf("BENCH update_power_cuts_survived %d of %d\n", survived, cuts)
	if segs3, err := segments(m, cameras[0]); err != nil || len(segs3) == 0 || !segs3[0].Start.Equal(first) {
		t.Fatalf("recordings after the power cuts: %v (%v)", segs3, err)
	}
	powerOff(t, m, true)
	mark("powered off")
}

// Power cuts during an update, at the phases the issue names.
var cutPhases = []string{"writing", "arming", "first-boot", "confirmation"}

var (
	installing    = regexp.MustCompile(`update: installing `)
	armed         = regexp.MustCompile(`written and armed`)
	anyConfirmed  = regexp.MustCompile(`update +ok: slot [ab] confirmed`)
	bootfsClean   = regexp.MustCompile(`bootfs +ok: /dev/\S+ clean \(`)
	bootfsChecked = regexp.MustCompile(`bootfs +(ok|FAILED): `)
	updateVerdict = regexp.MustCompile(`update +(ok|FAILED): `)
)

// cutUpdate installs the bundle at path on the running machine m and cuts
// the power at phase (a random instant inside it from rng), then boots
// until the box runs a healthy slot (at most 3 boots: a trial boot that
// was cut has spent its try). It returns the running machine.
func cutUpdate(t *testing.T, m *qemu.Machine, disk, path, phase string, rng *mrand.Rand) *qemu.Machine {
	t.Helper()
	tech := technician(t, m)
	if status, body := upload(t, tech, path); status != 200 {
		t.Fatalf("cut %s: upload: %d %s", phase, status, body)
	}
	go func() {
		defer func() { recover() }() // the answer may be cut with the power
		req, _ := http.NewRequest("POST", tech.Base+"/api/firmware/install", nil)
		req.Header.Set("X-CSRF-Token", tech.CSRF)
		if resp, err := slow(tech).Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	switch phase {
	case "writing":
		waitLine(t, m, installing, time.Minute)
		time.Sleep(time.Duration(rng.Int64N(int64(4 * time.Second))))
		m.Kill()
	case "arming":
		waitLine(t, m, armed, 3*time.Minute)
		m.Kill()
	default:
		m.Wait(3 * time.Minute) // the install's reboot
		m = boot(t, qemu.Options{Disk: disk})
		if phase == "first-boot" {
			waitLine(t, m, readyLine, 3*time.Minute)
			time.Sleep(time.Duration(rng.Int64N(int64(10 * time.Second))))
		} else {
			waitLine(t, m, anyConfirmed, 4*time.Minute)
		}
		m.Kill()
	}
	for i := 0; i < 3; i++ {
		m = boot(t, qemu.Options{Disk: disk})
		waitLine(t, m, readyLine, 3*time.Minute)
		// The boot partition was checked (and repaired when the cut
		// left it dirty) before init mounted it.
		if i == 0 {
			l := waitLine(t, m, bootfsChecked, time.Minute)
			if strings.Contains(l.Text, "FAILED") {
				t.Errorf("cut at %s: the boot partition's check failed: %s", phase, l.Text)
			}
			t.Logf("cut at %s, next boot: %s", phase, l.Text)
		}
		l := waitLine(t, m, updateVerdict, 4*time.Minute)
		if !strings.Contains(l.Text, "not healthy") {
			var health map[string]any
			if err := getJSON(m.URL("/api/health"), &health); err != nil {
				t.Fatalf("cut at %s: the box came back without a healthy daemon: %v", phase, err)
			}
			return m
		}
		m.Wait(2 * time.Minute) // the trial failed: init reboots
	}
	t.Fatalf("cut at %s: no healthy slot after 3 boots", phase)
	return nil
}
