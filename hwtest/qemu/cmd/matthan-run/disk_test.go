package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/matthan/matthan/hwtest/testenv"
)

// gptDisk makes a disk file with sfdisk: a boot partition holding fill,
// and a data partition after it holding data.
func gptDisk(t *testing.T, path string, bootMiB int, fill, data byte) {
	t.Helper()
	sfdisk := testenv.LookTool(t, "sfdisk", "fdisk")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 64<<20); err != nil {
		t.Fatal(err)
	}
	spec := "label: gpt\nstart=2048, size=" + itoa(bootMiB*2048) + ", type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=" + itoa(2048+bootMiB*2048) + ", size=16384, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n"
	cmd := exec.Command(sfdisk, "--quiet", path)
	cmd.Stdin = bytes.NewBufferString(spec)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	defer f.Close()
	f.WriteAt(bytes.Repeat([]byte{fill}, bootMiB<<20), 1<<20)
	f.WriteAt(bytes.Repeat([]byte{data}, 8<<20), int64(1+bootMiB)<<20)
}

func itoa(n int) string { return strconv.Itoa(n) }

func at(t *testing.T, path string, off int64) byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b[0]
}

func TestPrepareDisk(t *testing.T) {
	dir := t.TempDir()
	img, disk := filepath.Join(dir, "v1.img"), filepath.Join(dir, "run", "disk.img")
	gptDisk(t, img, 8, 0x11, 0) // a new image's data partition is empty
	kept, err := prepareDisk(img, disk, 1<<30, false)
	if err != nil || kept {
		t.Fatalf("first: kept %v, %v", kept, err)
	}
	st, _ := os.Stat(disk)
	if st.Size() != 1<<30 {
		t.Errorf("disk is %d bytes, want 1 GiB", st.Size())
	}
	if used := st.Sys().(*syscall.Stat_t).Blocks * 512; used > 32<<20 { // the image is 64 MiB, 9 of them not zero
		t.Errorf("disk uses %d bytes: the image's zero blocks were written, not left as holes", used)
	}
	// The box writes its data; then a new firmware comes.
	f, _ := os.OpenFile(disk, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{0xDA}, 4096), 9<<20)
	f.Close()
	img2 := filepath.Join(dir, "v2.img")
	gptDisk(t, img2, 8, 0x22, 0)
	kept, err = prepareDisk(img2, disk, 1<<30, false)
	if err != nil || !kept {
		t.Fatalf("second: kept %v, %v", kept, err)
	}
	if b := at(t, disk, 1<<20); b != 0x22 {
		t.Errorf("boot partition holds %#x, want the new firmware's 0x22", b)
	}
	if b := at(t, disk, 9<<20); b != 0xDA {
		t.Errorf("data partition holds %#x after the update, want the box's 0xDA", b)
	}
	// Another layout: refused, nothing written.
	img3 := filepath.Join(dir, "v3.img")
	gptDisk(t, img3, 16, 0x33, 0)
	if _, err := prepareDisk(img3, disk, 1<<30, false); err == nil {
		t.Error("a changed layout was written over the kept disk")
	}
	if b := at(t, disk, 9<<20); b != 0xDA {
		t.Errorf("data lost by a refused update: %#x", b)
	}
	// Fresh starts over.
	kept, err = prepareDisk(img3, disk, 1<<30, true)
	if err != nil || kept || at(t, disk, 1<<20) != 0x33 || at(t, disk, 9<<20) != 0x33 {
		t.Errorf("fresh: kept %v, %v", kept, err)
	}
}
