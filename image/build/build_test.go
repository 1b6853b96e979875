package build

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/matthan/matthan/image/disk"
)

func needTools(t *testing.T) {
	for tool, pkg := range map[string]string{"apt-get": "apt", "dpkg-deb": "dpkg", "depmod": "kmod",
		"sfdisk": "fdisk", "mkfs.vfat": "dosfstools", "mcopy": "mtools"} {
		testenv.LookTool(t, tool, pkg)
	}
}

func options(t *testing.T, board, out string, noDisk bool) Options {
	return Options{Board: board, Repo: testenv.RepoRoot(), Out: out, NoDisk: noDisk,
		Cache: filepath.Join(testenv.OutDir(), "cache"), SourceDate: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestInitramfsReproducibleAndSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the firmware")
	}
	needTools(t)
	ctx := context.Background()
	a, err := Build(ctx, options(t, "qemu-virt", t.TempDir(), true))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(ctx, options(t, "qemu-virt", t.TempDir(), true))
	if err != nil {
		t.Fatal(err)
	}
	if a.InitramfsSHA256 != b.InitramfsSHA256 {
		t.Errorf("two builds differ: %s vs %s", a.InitramfsSHA256, b.InitramfsSHA256)
	}
	out, err := exec.Command("sh", "-c", "cpio -t < "+a.Initramfs).Output()
	if err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	for _, want := range []string{"init", "bin/matthand", "bin/matthanctl", "bin/matthan-selftest", "sbin/mke2fs", "sbin/e2fsck", "sbin/resize2fs",
		"lib/ld-linux-aarch64.so.1", "lib/aarch64-linux-gnu/libext2fs.so.2", "etc/matthan/board.json",
		"lib/modules/" + a.Release + "/matthan.load-order", "lib/modules/" + a.Release + "/kernel/fs/ext4/ext4.ko", "dev/console"} {
		if !strings.Contains("\n"+string(out), "\n"+want+"\n") {
			t.Errorf("initramfs lacks %s", want)
		}
	}
	if strings.Contains(string(out), "bin/sh") {
		t.Error("production initramfs has a shell")
	}
	checkRelease(t, a, "qemu-virt")
	t.Logf("initramfs %d bytes", a.InitramfsBytes)
}

// checkRelease: the initramfs carries the release init reads (no hashes),
// and the one next to the files has their hashes.
func checkRelease(t *testing.T, res *Result, board string) {
	t.Helper()
	raw, err := exec.Command("sh", "-c", "cpio -i --quiet --to-stdout "+strings.TrimPrefix(firmware.PathOnBox, "/")+" < "+res.Initramfs).Output()
	if err != nil {
		t.Fatalf("cpio: %v", err)
	}
	inside, err := firmware.Parse(raw)
	if err != nil {
		t.Fatalf("release in the initramfs: %v\n%s", err, raw)
	}
	if inside.Board != board || !inside.Built.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || inside.Hashes != nil || inside.Kernel == "" {
		t.Errorf("release in the initramfs: %+v", inside)
	}
	beside, err := firmware.Load(res.ReleaseFile)
	if err != nil {
		t.Fatal(err)
	}
	kernel, _, _ := disk.SHA256(res.Kernel)
	if h := beside.Hashes; h == nil || h.Initramfs != res.InitramfsSHA256 || h.Kernel != kernel || h.Image != res.ImageSHA256 {
		t.Errorf("release beside the files: hashes %+v, want initramfs %s kernel %s image %q", h, res.InitramfsSHA256, kernel, res.ImageSHA256)
	}
}

func TestRPi4Image(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the firmware")
	}
	needTools(t)
	res, err := Build(context.Background(), options(t, "rpi4", t.TempDir(), false))
	if err != nil {
		t.Fatal(err)
	}
	dump, err := exec.Command("sfdisk", "--dump", res.Image).Output()
	if err != nil {
		t.Fatalf("partition table: %v\n%s", err, dump)
	}
	// The layout: boot (autoboot.txt), slot A, slot B, data last.
	var names []string
	for _, m := range regexp.MustCompile(`name="([^"]*)"`).FindAllStringSubmatch(string(dump), -1) {
		names = append(names, m[1])
	}
	if got := strings.Join(names, " "); got != "matthan-boot matthan-a matthan-b matthan-data" {
		t.Fatalf("partitions %q, want boot, a, b, data\n%s", got, dump)
	}
	fat := func(name string, skipMiB, mib int) string {
		part := filepath.Join(t.TempDir(), name+".fat")
		if out, err := exec.Command("dd", "if="+res.Image, "of="+part, "bs=1M", fmt.Sprint("skip=", skipMiB), fmt.Sprint("count=", mib)).CombinedOutput(); err != nil {
			t.Fatalf("dd: %v %s", err, out)
		}
		return part
	}
	boot := fat("boot", 1, 64)
	if got, _ := exec.Command("mtype", "-i", boot, "::/autoboot.txt").Output(); string(got) != AutobootTxt {
		t.Errorf("autoboot.txt = %q, want %q", got, AutobootTxt)
	}
	if ls, _ := exec.Command("mdir", "-b", "-i", fat("b", 1+64+256, 256), "::/").Output(); len(strings.TrimSpace(string(ls))) != 0 {
		t.Errorf("slot B is not empty:\n%s", ls)
	}
	part := fat("a", 1+64, 256)
	ls, err := exec.Command("mdir", "-b", "-i", part, "::/").Output()
	if err != nil {
		t.Fatalf("mdir: %v", err)
	}
	for _, want := range []string{"config.txt", "cmdline.txt", "vmlinuz", "initrd.cpio", "start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb"} {
		if !strings.Contains(string(ls), "::/"+want) {
			t.Errorf("slot A lacks %s:\n%s", want, ls)
		}
	}
	cfg, _ := exec.Command("mtype", "-i", part, "::/config.txt").Output()
	if !strings.Contains(string(cfg), "initramfs initrd.cpio followkernel") || !strings.Contains(string(cfg), "arm_64bit=1") {
		t.Errorf("config.txt = %q", cfg)
	}
	if res.ImageSHA256 == "" {
		t.Error("no image hash")
	}
	checkRelease(t, res, "rpi4")
}
