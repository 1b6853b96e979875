package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/qemu"
	"github.com/matthan/matthan/hwtest/testenv"
)

var (
	fpLine    = regexp.MustCompile(`certificate SHA-256: (\S+)`)
	setupLine = regexp.MustCompile(`enter the setup code (\S+)`)
	faultLine = regexp.MustCompile(`unplug a camera .*curl -X POST 'http://([^/]+)/cameras/cam1/offline`)
	adminLine = regexp.MustCompile(`==> Trang quản trị / admin page: (https://\S+)`)
)

// boot is what one `make run` printed.
type boot struct {
	admin, fingerprint, setupCode, faultAPI string
	out                                     string
}

func parseBoot(text string) boot {
	b := boot{out: text}
	for _, f := range []struct {
		re *regexp.Regexp
		to *string
	}{{adminLine, &b.admin}, {fpLine, &b.fingerprint}, {setupLine, &b.setupCode}, {faultLine, &b.faultAPI}} {
		if m := f.re.FindStringSubmatch(text); m != nil {
			*f.to = m[1]
		}
	}
	return b
}

// runOnce starts matthan-run as a terminal runs make: in its own process
// group, which gets the Ctrl-C. It waits for the admin page line, sends
// SIGINT to the group and returns what was printed once matthan-run has
// exited with status 0. up is called while the box is up.
func runOnce(t *testing.T, bin, out string, up func(boot)) boot {
	t.Helper()
	port := func() string {
		p, err := qemu.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(p)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-out", out, "-port", port(), "-tls-port", port(), "-camera-port", port(), "-camera-control", "127.0.0.1:"+port())
	cmd.Dir = testenv.RepoRoot()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var all strings.Builder
	ready := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		seen := false
		for sc.Scan() {
			mu.Lock()
			all.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !seen && strings.Contains(sc.Text(), "==> Ctrl-C") {
				seen = true
				close(ready)
			}
		}
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait(); pw.Close() }()
	t0 := time.Now()
	select {
	case <-ready:
		t.Logf("admin page ready after %v", time.Since(t0).Round(time.Second))
		mu.Lock()
		b := parseBoot(all.String())
		mu.Unlock()
		up(b)
	case err := <-waited:
		<-scanned
		t.Fatalf("matthan-run exited before the box was ready: %v\n%s", err, all.String())
	case <-ctx.Done():
		t.Fatalf("no ready line in time\n%s", all.String())
	}
	// Ctrl-C in the terminal: SIGINT to the foreground process group.
	t1 := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-waited:
	case <-time.After(2 * time.Minute):
		cancel()
		err = <-waited
		err = errors.Join(errors.New("not gone 2 minutes after Ctrl-C"), err)
	}
	<-scanned
	text := all.String()
	if err != nil {
		t.Fatalf("matthan-run after Ctrl-C: %v (want exit status 0)\n%s", err, text)
	}
	if !strings.Contains(text, "the box powered off cleanly") {
		t.Fatalf("no clean power-off\n%s", text)
	}
	t.Logf("powered off %v after Ctrl-C", time.Since(t1).Round(time.Second))
	return parseBoot(text)
}

// TestRunKeepsDiskAndExitsZero: `make run` boots, a Ctrl-C powers the box
// off and exits 0, the fault API address is printed, and the disk is a
// sparse 16 GiB file under out/ grown into by the box. The first run sets
// the box up (technician, officer). With MATTHAN_BENCH=1 (a second boot) a
// second run keeps the disk: same certificate, no setup code, the officer
// logs in. -fresh is covered by TestPrepareDisk.
func TestRunKeepsDiskAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	if err := qemu.Available(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	src := testenv.OutDir()
	testenv.NeedFile(t, filepath.Join(src, "cache"), "make kernel")
	testenv.NeedFile(t, filepath.Join(src, "clips"), "make clips")
	out := t.TempDir()
	for _, d := range []string{"cache", "clips"} {
		if err := os.Symlink(filepath.Join(src, d), filepath.Join(out, d)); err != nil {
			t.Fatal(err)
		}
	}
	bin := testenv.BuildCommand(t, "./hwtest/qemu/cmd/matthan-run")
	officer := adminclient.Officer
	first := runOnce(t, bin, out, func(b boot) {
		// A newcomer's first steps: the setup code makes the technician,
		// who makes the officer.
		if _, err := adminclient.FirstBoot(t.Context(), b.admin, b.setupCode, b.fingerprint); err != nil {
			t.Errorf("first boot setup on %s with %q: %v\n%s", b.admin, b.setupCode, err, b.out)
		}
	})
	if first.fingerprint == "" || first.setupCode == "" {
		t.Fatalf("first run printed no fingerprint or setup code\n%s", first.out)
	}
	if first.faultAPI == "" {
		t.Errorf("no fault API address printed\n%s", first.out)
	}
	disk := filepath.Join(out, "run", "disk.img")
	st, err := os.Stat(disk)
	if err != nil {
		t.Fatal(err)
	}
	used := st.Sys().(*syscall.Stat_t).Blocks * 512
	if st.Size() != 16<<30 || used > 2<<30 {
		t.Errorf("disk %s: %d bytes, %d allocated; want a sparse 16 GiB file", disk, st.Size(), used)
	}
	if !regexp.MustCompile(`data partition: grown to 1[56]`).MatchString(first.out) {
		t.Errorf("the data partition did not grow to the disk\n%s", first.out)
	}
	if os.Getenv("MATTHAN_BENCH") == "" {
		t.Log("second run (disk kept) skipped: set MATTHAN_BENCH=1")
		return
	}
	second := runOnce(t, bin, out, func(b boot) {
		if _, err := adminclient.Login(t.Context(), b.admin, b.fingerprint, officer); err != nil {
			t.Errorf("second run: the officer made in the first cannot log in: %v", err)
		}
	})
	if second.fingerprint != first.fingerprint {
		t.Errorf("second run: certificate %s, first %s: the disk was not kept", second.fingerprint, first.fingerprint)
	}
	if second.setupCode != "" {
		t.Errorf("second run printed a setup code (%s): the disk was not kept", second.setupCode)
	}
	if !strings.Contains(second.out, "kept disk:") {
		t.Errorf("second run does not say the disk was kept\n%s", second.out)
	}
}
