package disks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/testenv"
)

var testSys = Sys{Block: "testdata/sys/block", Dev: "testdata/dev", MountInfo: "testdata/mountinfo"}

// TestScan reads the fake sysfs tree in testdata: four USB disks (a
// recording disk, a blank one, a mounted stick with a FAT file system, an
// offline one with I/O errors) beside an SD card and a virtio disk, which
// are not USB and must not be listed.
func TestScan(t *testing.T) {
	got, err := Scan(testSys)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "sda,sdb,sdc,sdd" {
		t.Fatalf("USB disks %v, want sda,sdb,sdc,sdd", names)
	}
	for _, tt := range []struct {
		i                    int
		content              Content
		model, serial, inUse string
		healthOK             bool
		part                 string // recording partition
	}{
		{0, Recording, "WD10EZEX-00WN4A0", "DD5641988A0B", "", true, "testdata/dev/sda1"},
		{1, Blank, "Extreme SSD", "0000000001", "", true, ""},
		{2, Other, "Flash Disk", "AA00", "/media/usb stick", true, ""},
		{3, Recording, "ST2000DM008", "BB00", "", false, "testdata/dev/sdd1"},
	} {
		d := got[tt.i]
		if d.Content != tt.content || d.Model != tt.model || d.Serial != tt.serial || d.InUse != tt.inUse || d.Health.OK() != tt.healthOK {
			t.Errorf("%s: %+v", d.Name, d)
		}
		if d.SizeBytes != 128*512 || d.USBSpeed != "5000" || d.ID != d.Name+":"+d.Serial+":65536" {
			t.Errorf("%s: size %d, speed %q, id %q", d.Name, d.SizeBytes, d.USBSpeed, d.ID)
		}
		p := RecordingPartition(d)
		if (p == nil) != (tt.part == "") || p != nil && p.Dev != tt.part {
			t.Errorf("%s: recording partition %+v, want %q", d.Name, p, tt.part)
		}
	}
	if h := got[3].Health; h.State != "offline" || h.IOErrors != 26 || h.SMART != "unavailable" {
		t.Errorf("sdd health %+v", h)
	}
	if _, err := json.Marshal(got); err != nil {
		t.Error(err)
	}
}

func TestOnUSB(t *testing.T) {
	for p, want := range map[string]bool{
		"devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb2/2-2/2-2:1.0/host0/target0:0:0/0:0:0:0/block/sda": true,
		"devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0":                                                 false,
		"devices/virtual/block/loop0":               false,
		"devices/pci0000:00/usbstorage/block/sda":   false,
		"devices/pci0000:00/0000:00:04.0/usb10/x/y": true,
	} {
		if onUSB(p) != want {
			t.Errorf("onUSB(%q) = %v", p, !want)
		}
	}
}

// TestFormatLoopDevice formats a loop device the way Confirm formats a USB
// disk, mounts it, writes and checks what the kernel sees: the partition's
// GPT name and the file system label. Root only.
func TestFormatLoopDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("root only (loop devices)")
	}
	mkfs, err1 := exec.LookPath("mke2fs")
	fsck, err2 := exec.LookPath("e2fsck")
	if err1 != nil || err2 != nil {
		t.Skip("no e2fsprogs")
	}
	img := filepath.Join(t.TempDir(), "usb.img")
	if err := os.WriteFile(img, []byte("an old FAT stick"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, 256<<20)
	out, err := exec.Command("losetup", "-f", "--show", "-P", img).Output()
	if err != nil {
		t.Skipf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	name := filepath.Base(loop)
	tools := Tools{Mkfs: mkfs, Fsck: fsck}
	mounts, _ := readMounts(Host.MountInfo)
	d, ok := scanOne(Host, "/sys", name, mounts, false)
	if !ok || d.Content != Other || d.SizeBytes != 256<<20 {
		t.Fatalf("before: %+v", d)
	}
	var log bytes.Buffer
	off, err := PartitionDisk(d)
	if err != nil {
		t.Fatal(err)
	}
	if off != 1<<20 {
		t.Errorf("partition at %d", off)
	}
	// Where the kernel lists loop partitions (not in every sandbox), Format's
	// wait finds it; else a second loop device over the partition stands in.
	part, err := waitPartition(context.Background(), Host, name, 2*time.Second)
	holder := name // the disk whose partition is mounted
	if err != nil {
		t.Logf("%v: using a loop device at the partition's offset", err)
		out, err := exec.Command("losetup", "-f", "--show", "-o", "1048576", "--sizelimit", fmt.Sprint(255<<20-34*512), img).Output()
		if err != nil {
			t.Fatal(err)
		}
		part = strings.TrimSpace(string(out))
		holder = filepath.Base(part)
		t.Cleanup(func() { exec.Command("losetup", "-d", part).Run() })
	} else if part != "/dev/"+name+"p1" {
		t.Errorf("partition %s", part)
	}
	if err := MakeFS(context.Background(), part, tools, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if lbl, _ := exec.Command("sfdisk", "--part-label", loop, "1").Output(); strings.TrimSpace(string(lbl)) != PartName {
		t.Errorf("GPT partition name %q", lbl)
	}
	if k, err := probe(part, 0); err != nil || k.String() != "ext4" {
		t.Fatalf("after formatting: %v %v", k, err)
	}
	dir := filepath.Join(t.TempDir(), "rec")
	if err := Mount(context.Background(), part, dir, tools, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Cleanup(func() { Unmount(dir) })
	if !IsMountPoint(dir) {
		t.Error("not a mount point after Mount")
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("video"), 0o644); err != nil {
		t.Error(err)
	}
	lbl, _ := exec.Command("blkid", "-o", "value", "-s", "LABEL", part).Output()
	if strings.TrimSpace(string(lbl)) != PartName {
		t.Errorf("file system label %q", lbl)
	}
	// Mounted: never formatted again.
	mounts, _ = readMounts(Host.MountInfo)
	d, _ = scanOne(Host, "/sys", holder, mounts, false)
	if d.InUse != dir {
		t.Errorf("in use %q, want %s", d.InUse, dir)
	}
	if _, err := Format(context.Background(), Host, d, tools, &log); err == nil {
		t.Error("a mounted disk was formatted")
	}
	if err := Unmount(dir); err != nil || IsMountPoint(dir) {
		t.Errorf("unmount: %v", err)
	}
}

type fakeTarget struct {
	mu       sync.Mutex
	attached []string
	detached []error
	fail     error
}

func (f *fakeTarget) AttachDisk(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.attached = append(f.attached, dir)
	return nil
}
func (f *fakeTarget) DetachDisk(reason error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.detached = append(f.detached, reason)
}

// copyTree copies testdata's fake sysfs into a folder the test may change
// (unplugging = removing the block/NAME link).
func copyTree(t *testing.T) Sys {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", "testdata/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return Sys{Block: filepath.Join(dir, "sys/block"), Dev: filepath.Join(dir, "dev"), MountInfo: filepath.Join(dir, "mountinfo")}
}

// TestManager: the recording disk sda is adopted without a confirm and
// without formatting; the offline sdd is not; unplugging sda raises the
// alarm and detaches it; plugging it back adopts it again; a blank disk is
// formatted only through Confirm, and Confirm refuses a mounted one and a
// stale ID.
func TestManager(t *testing.T) {
	sys := copyTree(t)
	// Make sdd healthy but keep sda first: only one disk records.
	tgt := &fakeTarget{}
	var mounted, formatted []string
	var unmounts int
	m := New(Options{Sys: sys, MountDir: "/mnt/rec", Target: tgt, Logf: t.Logf,
		Format: func(_ context.Context, d Disk) (string, error) {
			formatted = append(formatted, d.Name)
			return d.Dev + "1", nil
		},
		Mount:   func(_ context.Context, part, dir string) error { mounted = append(mounted, part); return nil },
		Unmount: func(string) error { unmounts++; return nil },
	})
	ctx := context.Background()
	m.Poll(ctx)
	st := m.Status()
	if st.State != OnDisk || st.Recording == nil || st.Recording.Name != "sda" || len(formatted) != 0 || len(tgt.attached) != 1 || st.Alarm != "" {
		t.Fatalf("after the first look: %+v (formatted %v, attached %v)", st, formatted, tgt.attached)
	}
	if len(mounted) != 1 || !strings.HasSuffix(mounted[0], "sda1") {
		t.Errorf("mounted %v", mounted)
	}

	// Unplugged.
	link := filepath.Join(sys.Block, "sda")
	target, _ := os.Readlink(link)
	os.Remove(link)
	m.Poll(ctx)
	st = m.Status()
	if st.State != Lost || !m.Alarm() || !strings.Contains(st.Alarm, "Mất ổ ghi hình") || len(tgt.detached) != 1 || unmounts != 1 {
		t.Fatalf("after unplugging: %+v, detached %v, unmounts %d", st, tgt.detached, unmounts)
	}
	// sdd holds a recording file system too, but is offline: not adopted.
	m.Poll(ctx)
	if m.Status().State != Lost || len(tgt.attached) != 1 {
		t.Errorf("an offline disk was adopted: %+v", m.Status())
	}
	// Plugged back in.
	os.Symlink(target, link)
	m.Poll(ctx)
	if st := m.Status(); st.State != OnDisk || m.Alarm() || len(tgt.attached) != 2 || len(formatted) != 0 {
		t.Fatalf("after plugging back: %+v", st)
	}

	// A write error: let go, and not adopted again while it stays plugged.
	m.Lost(errors.New("input/output error"))
	testenv.WaitFor(t, "the alarm", 2*time.Second, m.Alarm)
	m.Poll(ctx)
	if m.Status().State != Lost || len(tgt.attached) != 2 {
		t.Errorf("a failed disk was adopted again: %+v", m.Status())
	}

	// Confirm: a stale id, a mounted disk, then the blank one.
	if err := m.Confirm(ctx, "sdb:other-serial:65536"); err == nil {
		t.Error("a stale id was confirmed")
	}
	sdc := find(m.Status().Disks, "sdc:AA00:65536")
	if sdc == nil {
		t.Fatal("sdc not listed")
	}
	if err := m.Confirm(ctx, sdc.ID); !errors.Is(err, ErrNotConfirmable) || len(formatted) != 0 {
		t.Errorf("a mounted disk: %v, formatted %v", err, formatted)
	}
	if err := m.Confirm(ctx, "sdd:BB00:65536"); !errors.Is(err, ErrNotConfirmable) {
		t.Errorf("an offline disk: %v", err)
	}
	if err := m.Confirm(ctx, "sdb:0000000001:65536"); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.State != OnDisk || st.Recording.Name != "sdb" || strings.Join(formatted, ",") != "sdb" || m.Alarm() {
		t.Errorf("after confirming sdb: %+v, formatted %v", st, formatted)
	}
	if err := m.Confirm(ctx, "sdb:0000000001:65536"); !errors.Is(err, ErrNotConfirmable) {
		t.Errorf("confirm while recording to a disk: %v", err)
	}
}

// TestManagerRemembersDisk: a box that adopted a recording disk and boots
// without it raises the alarm after the grace time instead of quietly
// recording to the card; Forget ends the alarm for good.
func TestManagerRemembersDisk(t *testing.T) {
	sys := copyTree(t)
	state := filepath.Join(t.TempDir(), "recording-disk.json")
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := Options{Sys: sys, MountDir: "/mnt/rec", Target: &fakeTarget{}, Logf: t.Logf, StateFile: state, Now: clock, Grace: 20 * time.Second,
		Mount: func(context.Context, string, string) error { return nil }, Unmount: func(string) error { return nil }}
	m := New(opts)
	m.Poll(context.Background())
	if m.Status().State != OnDisk {
		t.Fatalf("not adopted: %+v", m.Status())
	}
	if b, err := os.ReadFile(state); err != nil || !strings.Contains(string(b), "DD5641988A0B") {
		t.Fatalf("state file: %q %v", b, err)
	}
	// Power off, unplug, boot.
	os.Remove(filepath.Join(sys.Block, "sda"))
	opts.Target = &fakeTarget{}
	m = New(opts)
	m.Poll(context.Background())
	if st := m.Status(); st.State != OnCard || m.Alarm() || st.Expected == nil || st.Expected.Serial != "DD5641988A0B" {
		t.Fatalf("within the grace time: %+v", st)
	}
	if err := m.Forget(); err != nil { // allowed: nothing recorded to
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file after Forget: %v", err)
	}
	// Again, without Forget: the alarm comes after the grace time.
	New(Options{Sys: copyTree(t), Target: &fakeTarget{}, StateFile: state, Now: clock,
		Mount: func(context.Context, string, string) error { return nil }, Unmount: func(string) error { return nil }}).Poll(context.Background())
	m = New(opts)
	m.Poll(context.Background())
	now = now.Add(21 * time.Second)
	m.Poll(context.Background())
	if st := m.Status(); st.State != Lost || !m.Alarm() || !strings.Contains(st.Problem, "DD5641988A0B") {
		t.Fatalf("after the grace time without the disk: %+v", st)
	}
	if err := m.Forget(); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.State != OnCard || m.Alarm() || st.Expected != nil {
		t.Errorf("after Forget: %+v", st)
	}
	m = New(opts)
	now = now.Add(time.Minute)
	m.Poll(context.Background())
	if m.Alarm() {
		t.Error("alarm after Forget and a reboot")
	}
}
