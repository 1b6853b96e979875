package qemu_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/firmware/datapart"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/matthan/matthan/image/flash"
)

// The data partition grows to the end of the disk on first boot (the
// image's 1 GiB data partition on a larger disk, as after flashing a card).

var (
	grownLine    = regexp.MustCompile(`data partition: grown to ([0-9.]+) GiB`)
	dataOKLine   = regexp.MustCompile(`data +ok: /dev/vda2 (was empty: created ext4|checked).*\(partition ([0-9.]+) GiB, file system ([0-9.]+) GiB\)`)
	growPhaseRe  = regexp.MustCompile(`data partition: grow phase (\w+)`)
	stoppedLine  = regexp.MustCompile(`data partition: stopped before (\w+)`)
	onlineFailed = regexp.MustCompile(`online growth failed`)
	consoleTime  = regexp.MustCompile(`^matthan: \[ *([0-9.]+)\]`)
)

const gib = 1 << 30

// bigDisk copies the image onto a sparse disk file of size bytes.
func bigDisk(t *testing.T, image string, size int64) string {
	t.Helper()
	d := copyDisk(t, image)
	if err := os.Truncate(d, size); err != nil {
		t.Fatal(err)
	}
	return d
}

// dataFS reads the data partition's file system from the host after the
// guest has powered off: UUID, size and the names in its root folder.
type dataFS struct {
	UUID  string
	Bytes int64
	Root  []string
}

func readDataFS(t *testing.T, disk string) dataFS {
	t.Helper()
	dumpe2fs := testenv.LookTool(t, "dumpe2fs", "e2fsprogs")
	debugfs := testenv.LookTool(t, "debugfs", "e2fsprogs")
	loop := testenv.Loop(t, disk, true)
	part := loop + "p2"
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(part); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err := exec.Command(dumpe2fs, "-h", part).Output()
	if err != nil {
		t.Fatalf("dumpe2fs -h %s: %v", part, err)
	}
	var fs dataFS
	var blocks, bs int64
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Filesystem UUID":
			fs.UUID = v
		case "Block count":
			blocks, _ = strconv.ParseInt(v, 10, 64)
		case "Block size":
			bs, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	fs.Bytes = blocks * bs
	out, err = exec.Command(debugfs, "-R", "ls -p /", part).Output()
	if err != nil {
		t.Fatalf("debugfs ls: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "/")
		if len(f) > 5 && f[5] != "." && f[5] != ".." && f[5] != "" {
			fs.Root = append(fs.Root, f[5])
		}
	}
	sort.Strings(fs.Root)
	return fs
}

func parseGiB(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("size %q: %v", s, err)
	}
	return v
}

// TestFirstBootGrowsDataPartition: the image on an 8 GiB disk; the first
// boot grows the data partition and formats it at the full size. Then the
// card is "cloned onto a larger one" (the disk file grows to 12 GiB): the
// second boot grows the partition and the ext4 on it (online), and
// reformats nothing: same file system UUID, every file of the first boot
// still there.
func TestFirstBootGrowsDataPartition(t *testing.T) {
	fw := firmware(t)
	disk := bigDisk(t, fw.Image, 8*gib)
	o := directBoot(fw, "")
	o.Disk = disk

	m := boot(t, o)
	l := waitLine(t, m, grownLine, 3*time.Minute)
	// 8 GiB less the boot partition (1 + 512 MiB) and 1 MiB for the backup GPT.
	if got, want := parseGiB(t, grownLine.FindStringSubmatch(l.Text)[1]), (8*1024-514)/1024.0; got < want-0.1 || got > want+0.1 {
		t.Errorf("grown to %.1f GiB, want %.1f", got, want)
	}
	l = waitLine(t, m, dataOKLine, 3*time.Minute)
	sm := dataOKLine.FindStringSubmatch(l.Text)
	if sm[1] != "was empty: created ext4" {
		t.Errorf("first boot: %q, want a format", l.Text)
	}
	if fsGiB := parseGiB(t, sm[3]); fsGiB < 7.0 {
		t.Errorf("file system of %.1f GiB on the grown partition (%s GiB)", fsGiB, sm[2])
	}
	waitLine(t, m, readyLine, 2*time.Minute)
	powerOff(t, m, true)
	var first dataFS
	t.Run("data after the first boot", func(t *testing.T) { first = readDataFS(t, disk) })
	if len(first.Root) == 0 || first.Bytes < 7*gib {
		t.Fatalf("after the first boot: %+v", first)
	}
	t.Logf("first boot: %+v", first)

	// The clone onto a larger card.
	if err := os.Truncate(disk, 12*gib); err != nil {
		t.Fatal(err)
	}
	m = boot(t, o)
	l = waitLine(t, m, grownLine, 3*time.Minute)
	if got := parseGiB(t, grownLine.FindStringSubmatch(l.Text)[1]); got < 11.3 || got > 11.6 {
		t.Errorf("second boot: grown to %.1f GiB, want ~11.5", got)
	}
	l = waitLine(t, m, dataOKLine, 3*time.Minute)
	if !strings.Contains(l.Text, "checked") || !strings.Contains(l.Text, "file system grown to the partition") {
		t.Errorf("second boot: %q, want checked and grown, not formatted", l.Text)
	}
	if onlineFailed.MatchString(m.Console()) {
		t.Errorf("the ext4 was not grown online:\n%s", m.Console())
	}
	waitLine(t, m, readyLine, 2*time.Minute)
	powerOff(t, m, true)
	var second dataFS
	t.Run("data after the second boot", func(t *testing.T) { second = readDataFS(t, disk) })
	if second.UUID != first.UUID {
		t.Errorf("file system UUID %s → %s: reformatted", first.UUID, second.UUID)
	}
	for _, name := range first.Root {
		if !contains(second.Root, name) {
			t.Errorf("%s of the first boot is gone after the second (%v)", name, second.Root)
		}
	}
	if second.Bytes < 11*gib {
		t.Errorf("file system %d bytes after growing to ~11.5 GiB", second.Bytes)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPowerCutDuringGrow cuts the power at a seeded random point of the
// first boot's grow step: before one of the partition table writes (init
// stops there on matthan.test.growcut), or at a random instant while
// mke2fs runs. The next boot must come up with the data partition grown
// and holding a file system.
func TestPowerCutDuringGrow(t *testing.T) {
	fw := firmware(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MATTHAN_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	r := rand.New(rand.NewPCG(seed, 10))
	phases := []string{"backup", "primary", "kernel", "mkfs"}
	phase := phases[r.IntN(len(phases))]
	delay := time.Duration(r.IntN(600)) * time.Millisecond // mke2fs of 7.5 GiB takes 0.6–1 s under TCG
	t.Logf("seed %d (MATTHAN_SEED=%d reruns it): cut at %s, delay %s", seed, seed, phase, delay)

	disk := bigDisk(t, fw.Image, 8*gib)
	o := directBoot(fw, "")
	o.Disk = disk
	if phase != "mkfs" {
		o.Cmdline += " matthan.test.growcut=" + phase
	}
	m := boot(t, o)
	if phase == "mkfs" {
		waitLine(t, m, regexp.MustCompile(`data partition: grow phase format`), 3*time.Minute)
		time.Sleep(delay)
	} else {
		waitLine(t, m, stoppedLine, 3*time.Minute)
	}
	m.Kill()

	o = directBoot(fw, "")
	o.Disk = disk
	m = boot(t, o)
	l := waitLine(t, m, dataOKLine, 3*time.Minute)
	sm := dataOKLine.FindStringSubmatch(l.Text)
	if p := parseGiB(t, sm[2]); p < 7.4 {
		t.Errorf("after the cut at %s: partition %.1f GiB, want the whole disk (~7.5)", phase, p)
	}
	if fsGiB := parseGiB(t, sm[3]); fsGiB < 7.0 {
		t.Errorf("after the cut at %s: file system %.1f GiB", phase, fsGiB)
	}
	waitLine(t, m, readyLine, 2*time.Minute)
	powerOff(t, m, true)
}

// TestTornPrimaryGPTRepaired: the state a power cut in the middle of the
// primary GPT write leaves (the grown backup whole at the disk's end, the
// primary header torn). Linux then sees no partition at all; init rebuilds
// the primary from the backup and carries on with the grown partition.
func TestTornPrimaryGPTRepaired(t *testing.T) {
	fw := firmware(t)
	disk := bigDisk(t, fw.Image, 8*gib)
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datapart.GrowGPT(f, 8*gib, 512, 1, nil); err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("torn"), 512+16) // the primary header's checksum
	f.Close()
	o := directBoot(fw, "")
	o.Disk = disk
	m := boot(t, o)
	waitLine(t, m, regexp.MustCompile(`data partition: rebuilt the partition table of /dev/vda from its backup`), 3*time.Minute)
	l := waitLine(t, m, dataOKLine, 3*time.Minute)
	if sm := dataOKLine.FindStringSubmatch(l.Text); sm[1] != "was empty: created ext4" || parseGiB(t, sm[2]) < 7.4 {
		t.Errorf("after the repair: %q, want the grown partition formatted", l.Text)
	}
	waitLine(t, m, readyLine, 2*time.Minute)
	powerOff(t, m, true)
}

// TestFieldBench prints the field benchmarks (make bench-field):
//   - BENCH flash_seconds_per_gib: matthan-flash (flash.Write, with the
//     read-back verification) of the qemu-virt image onto a loop device
//     over an 8 GiB sparse file, seconds per GiB of image;
//   - BENCH first_boot_grow_s: a 64 GiB sparse disk, direct boot, from the
//     first grow phase to the data partition mounted, by the guest's
//     console timestamps.
//
// BENCH days_of_video_per_tb is printed by make bench-capacity (what the
// recorder really writes per second of video; daemon/record).
func TestFieldBench(t *testing.T) {
	if os.Getenv("MATTHAN_BENCH") == "" {
		t.Skip("a benchmark: make bench-field")
	}
	fw := firmware(t)

	card := filepath.Join(t.TempDir(), "card.img")
	if err := os.WriteFile(card, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(card, 8*gib)
	dev := testenv.Loop(t, card, false)
	start := time.Now()
	res, err := flash.Write(context.Background(), fw.Image, dev, flash.Options{})
	if err != nil {
		t.Fatalf("flash: %v", err)
	}
	took := time.Since(start).Seconds()
	fmt.Printf("BENCH flash_seconds_per_gib %.2f s/GiB (%.2f GiB image, %d MiB written, verified, loop device)\n",
		took/(float64(res.Bytes)/gib), float64(res.Bytes)/gib, res.Written>>20)

	disk := bigDisk(t, fw.Image, 64*gib)
	o := directBoot(fw, "")
	o.Disk = disk
	m := boot(t, o)
	from := waitLine(t, m, growPhaseRe, 3*time.Minute)
	to := waitLine(t, m, dataOKLine, 5*time.Minute)
	t0, t1 := consoleSeconds(t, from.Text), consoleSeconds(t, to.Text)
	fmt.Printf("BENCH first_boot_grow_s %.2f s (64 GiB sparse disk, TCG; GPT grow + mke2fs of %s GiB)\n", t1-t0,
		dataOKLine.FindStringSubmatch(to.Text)[2])
	m.Kill()
}

func consoleSeconds(t *testing.T, line string) float64 {
	t.Helper()
	sm := consoleTime.FindStringSubmatch(line)
	if sm == nil {
		t.Fatalf("no timestamp in %q", line)
	}
	v, _ := strconv.ParseFloat(sm[1], 64)
	return v
}
