package flash

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/matthan/matthan/firmware/datapart"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/matthan/matthan/image/disk"
	"golang.org/x/sys/unix"
)

// testImage writes a sparse image like the firmware's: data at the start
// (GPT, boot partition), a long zero run (the empty data partition), a
// little data near the end (the backup GPT).
func testImage(t *testing.T, size int64) (string, []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, size)
	for i := range 3 << 20 {
		data[i] = byte(r.Uint32())
	}
	for i := size - 20<<10; i < size; i++ {
		data[i] = byte(r.Uint32())
	}
	data[5<<20+17] = 1 // a lone byte inside the zero run
	p := filepath.Join(t.TempDir(), "matthan.img")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// usedCard is a loop device over a sparse file full of an old box's
// bytes (0xAB everywhere the image has zeros, and at its end).
func usedCard(t *testing.T, size int64) (dev, backing string) {
	t.Helper()
	backing = filepath.Join(t.TempDir(), "card.img")
	f, err := os.Create(backing)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	junk := bytes.Repeat([]byte{0xAB}, 1<<20)
	for off := int64(0); off < size; off += 4 << 20 { // every 4th MiB
		f.WriteAt(junk, off)
	}
	f.WriteAt(junk, size-1<<20) // a stale backup GPT
	f.Close()
	return testenv.Loop(t, backing, false), backing
}

func TestFlashUsedCardOnLoopDevice(t *testing.T) {
	for _, tt := range []struct {
		name       string
		devZeroing bool
	}{{"device zeroes", true}, {"read and compare", false}} {
		t.Run(tt.name, func(t *testing.T) {
			deviceZeroing = tt.devZeroing
			defer func() { deviceZeroing = true }()
			img, data := testImage(t, 24<<20)
			dev, _ := usedCard(t, 64<<20)
			var bar bytes.Buffer
			res, err := Write(context.Background(), img, dev, Options{Progress: &bar})
			if err != nil {
				t.Fatalf("flash %s: %v", dev, err)
			}
			if !res.Verified || res.Bytes != int64(len(data)) {
				t.Errorf("result %+v", res)
			}
			// Non-zero image chunks: 3 MiB + one 64 KiB chunk + 20 KiB
			// (in a 64 KiB chunk); the old card's junk in the image's zero
			// runs is written over only when the device cannot zero.
			nonZero := int64(3<<20 + 2*chunk)
			if tt.devZeroing && res.Written != nonZero {
				t.Errorf("wrote %d bytes, want only the image's %d non-zero ones", res.Written, nonZero)
			}
			if !tt.devZeroing && (res.Written <= nonZero || res.Written >= int64(len(data))) {
				t.Errorf("wrote %d bytes: want the non-zero chunks plus the junk the card held (%d < n < %d)", res.Written, nonZero, len(data))
			}
			got := make([]byte, 64<<20)
			f, err := os.Open(dev)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0)
			if _, err := f.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:len(data)], data) {
				t.Errorf("the device does not read back as the image")
			}
			if !allZero(got[len(got)-staleGPT:]) {
				t.Errorf("the stale backup GPT at the device's end was not zeroed")
			}
		})
	}
}

func TestVerifyDetectsAlteredDevice(t *testing.T) {
	img, _ := testImage(t, 8<<20)
	dev, _ := usedCard(t, 16<<20)
	if _, err := Write(context.Background(), img, dev, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Verify(context.Background(), img, dev, nil); err != nil {
		t.Fatalf("verify right after writing: %v", err)
	}
	for _, at := range []int64{6<<20 + 3, 1234} { // in a zero run, in data
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		f.ReadAt(b, at)
		b[0] ^= 0x40
		f.WriteAt(b, at)
		f.Sync()
		f.Close()
		err = Verify(context.Background(), img, dev, nil)
		if err == nil || !strings.Contains(err.Error(), "at byte "+itoa(at)) {
			t.Errorf("verify after flipping byte %d: %v", at, err)
		}
		b[0] ^= 0x40 // put it back for the next case
		f, _ = os.OpenFile(dev, os.O_RDWR, 0)
		f.WriteAt(b, at)
		f.Close()
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestFlashRefusesMountedLoopDevice(t *testing.T) {
	mkfs := testenv.LookTool(t, "mkfs.ext4", "e2fsprogs")
	img, _ := testImage(t, 8<<20)
	dev, _ := usedCard(t, 32<<20)
	if out, err := exec.Command(mkfs, "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	dir := t.TempDir()
	if err := unix.Mount(dev, dir, "ext4", 0, ""); err != nil {
		testenv.Missing(t, "mount %s: %v", dev, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, 0) })
	_, err := Write(context.Background(), img, dev, Options{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), dir) {
		t.Errorf("flash onto a mounted device: %v, want a refusal naming %s", err, dir)
	}
}

func TestFlashRefusesHeldDevice(t *testing.T) {
	img, _ := testImage(t, 8<<20)
	dev, _ := usedCard(t, 16<<20)
	h, err := os.OpenFile(dev, os.O_RDONLY|unix.O_EXCL, 0) // another program holds it
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, err = Write(context.Background(), img, dev, Options{})
	if !errors.Is(err, ErrRefused) || !errors.Is(err, unix.EBUSY) {
		t.Errorf("flash onto a held device: %v, want a refusal (EBUSY)", err)
	}
}

// TestRefusesRunningSystemDisk reads this machine's real mountinfo and
// sysfs and checks (Check only: nothing is written) that the disk "/" is
// on is refused.
func TestRefusesRunningSystemDisk(t *testing.T) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := MountedDisks(raw, "/sys")
	if len(root) == 0 {
		t.Skip("/ is not on a block device here (container overlay); covered by TestMountedDisksSysfs")
	}
	dev := "/dev/" + root[0]
	if _, err := os.Stat(dev); err != nil {
		t.Skipf("%s has no device node here: %v", dev, err)
	}
	err = Check(dev, 1<<20, Options{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "running system") {
		t.Errorf("Check(%s) = %v, want a refusal: it holds the running system", dev, err)
	}
}

// TestMountedDisksSysfs: / on an LVM volume (dm-0 over sda2), /boot on
// sda1 named /dev/root-style, a USB disk's partition, a loop device.
func TestMountedDisksSysfs(t *testing.T) {
	sys := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(sys, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(p string) { os.WriteFile(filepath.Join(sys, p), nil, 0o644) }
	link := func(target, name string) {
		os.MkdirAll(filepath.Dir(filepath.Join(sys, name)), 0o755)
		if err := os.Symlink(filepath.Join(sys, target), filepath.Join(sys, name)); err != nil {
			t.Fatal(err)
		}
	}
	mk("devices/pci/block/sda/sda1")
	touch("devices/pci/block/sda/sda1/partition")
	mk("devices/pci/block/sda/sda2")
	touch("devices/pci/block/sda/sda2/partition")
	mk("devices/usb/block/sdb/sdb1")
	touch("devices/usb/block/sdb/sdb1/partition")
	mk("devices/virtual/block/dm-0/slaves")
	link("devices/pci/block/sda/sda2", "devices/virtual/block/dm-0/slaves/sda2")
	mk("devices/virtual/block/loop3")
	link("devices/pci/block/sda/sda1", "dev/block/8:1")
	link("devices/usb/block/sdb/sdb1", "dev/block/8:17")
	link("devices/virtual/block/dm-0", "dev/block/253:0")
	link("devices/virtual/block/loop3", "dev/block/7:3")
	info := `27 1 253:0 / / rw - ext4 /dev/mapper/vg-root rw
28 27 8:1 / /boot rw - vfat /dev/root rw
29 27 8:17 / /media/usb rw - ext4 /dev/sdb1 rw
30 27 7:3 / /mnt/img rw - ext4 /dev/loop3 rw
31 27 0:5 / /tmp rw - tmpfs tmpfs rw
`
	root, used := MountedDisks([]byte(info), sys)
	if len(root) != 1 || root[0] != "sda" {
		t.Errorf("root disks = %v, want [sda]", root)
	}
	for disk, want := range map[string]string{"sda": "/ /boot", "sdb": "/media/usb", "loop3": "/mnt/img", "sdc": ""} {
		if got := strings.Join(used[disk], " "); got != want {
			t.Errorf("mounts on %s = %q, want %q", disk, got, want)
		}
	}
}

// TestUsedCardComesOutBlank: a card that was a box (its data partition
// holds an ext4 with recordings) is flashed again with a real image: the
// data partition must then read as empty to init (a new box, formatted on
// first boot), although only the image's non-zero blocks were written.
func TestUsedCardComesOutBlank(t *testing.T) {
	for tool, pkg := range map[string]string{"sfdisk": "fdisk", "mkfs.vfat": "dosfstools", "mcopy": "mtools"} {
		testenv.LookTool(t, tool, pkg)
	}
	mkfs := testenv.LookTool(t, "mkfs.ext4", "e2fsprogs")
	dir := t.TempDir()
	conf := filepath.Join(dir, "loader.conf")
	os.WriteFile(conf, []byte("timeout 0\n"), 0o644)
	img := filepath.Join(dir, "matthan.img")
	l, err := disk.Write(context.Background(), disk.Spec{Path: img, BootMiB: 64, DataMiB: 256,
		Boot: map[string]string{"loader/loader.conf": conf}})
	if err != nil {
		t.Fatal(err)
	}
	dev, backing := usedCard(t, 1<<30)
	// The old box: an ext4 with a recording where the data partition is.
	if _, err := Write(context.Background(), img, dev, Options{}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", "-o", strconv.FormatInt(l.DataOffset, 10),
		"--sizelimit", strconv.FormatInt(1<<30-l.DataOffset-1<<20, 10), backing).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v %s", err, out)
	}
	part := strings.TrimSpace(string(out))
	if out, err := exec.Command(mkfs, "-q", "-F", part).CombinedOutput(); err != nil {
		exec.Command("losetup", "-d", part).Run()
		t.Fatalf("mkfs: %v %s", err, out)
	}
	exec.Command("losetup", "-d", part).Run()
	probe := func() datapart.Kind {
		f, err := os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0)
		k, err := datapart.Probe(io.NewSectionReader(f, l.DataOffset, l.DataSize), l.DataSize)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if k := probe(); k != datapart.Ext4 {
		t.Fatalf("the old box's data partition reads as %v, want ext4", k)
	}
	// Flashed again for a new box.
	res, err := Write(context.Background(), img, dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if k := probe(); k != datapart.Empty {
		t.Errorf("after flashing, the data partition reads as %v: the new box would adopt the old one's data", k)
	}
	if res.Written > 16<<20 {
		t.Errorf("wrote %d bytes of a %d-byte image", res.Written, res.Bytes)
	}
}
