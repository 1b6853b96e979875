package flash

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteFileAndVerify(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "matthan.img")
	data := make([]byte, 9<<20+123)
	rand.Read(data)
	os.WriteFile(img, data, 0o644)
	dst := filepath.Join(dir, "card.img")
	os.WriteFile(dst, bytes.Repeat([]byte{0xff}, 20<<20), 0o644) // old, larger content
	var bar bytes.Buffer
	res, err := Write(context.Background(), img, dst, Options{Progress: &bar})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatalf("target differs from the image (%d vs %d bytes)", len(got), len(data))
	}
	if !res.Verified || res.Bytes != int64(len(data)) {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(bar.String(), "100%") {
		t.Errorf("progress never reached 100%%: %q", bar.String())
	}
}

func TestRefusesImageItself(t *testing.T) {
	img := filepath.Join(t.TempDir(), "x.img")
	os.WriteFile(img, []byte("x"), 0o644)
	if _, err := Write(context.Background(), img, img, Options{}); !errors.Is(err, ErrRefused) {
		t.Errorf("err = %v, want refusal", err)
	}
}

func TestRefusesCharDevice(t *testing.T) {
	if err := Check("/dev/null", 1, Options{}); !errors.Is(err, ErrRefused) {
		t.Errorf("Check(/dev/null) = %v, want refusal", err)
	}
}

const mountinfo = `22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 22 8:17 / /media/usb rw - vfat /dev/sdb1 rw
31 22 179:2 / /boot rw - vfat /dev/mmcblk0p2 rw
32 22 0:5 / /dev rw - devtmpfs udev rw
`

func TestMountedFrom(t *testing.T) {
	for _, tt := range []struct {
		dev  string
		want int
	}{
		{"/dev/vda", 1}, {"/dev/sdb", 1}, {"/dev/sdb1", 1}, {"/dev/sdc", 0},
		{"/dev/mmcblk0", 1}, {"/dev/mmcblk1", 0}, {"/dev/sd", 0},
	} {
		if got := MountedFrom([]byte(mountinfo), tt.dev); len(got) != tt.want {
			t.Errorf("MountedFrom(%s) = %v, want %d mounts", tt.dev, got, tt.want)
		}
	}
}

func TestSameDisk(t *testing.T) {
	for _, tt := range []struct {
		src, dev string
		want     bool
	}{
		{"/dev/sdb1", "/dev/sdb", true}, {"/dev/sdb", "/dev/sdb", true}, {"/dev/sdba", "/dev/sdb", false},
		{"/dev/nvme0n1p3", "/dev/nvme0n1", true}, {"/dev/nvme0n10", "/dev/nvme0n1", true},
		{"/dev/mmcblk0p1", "/dev/mmcblk0", true}, {"tmpfs", "/dev/sdb", false},
	} {
		if got := sameDisk(tt.src, tt.dev); got != tt.want {
			t.Errorf("sameDisk(%q, %q) = %v, want %v", tt.src, tt.dev, got, tt.want)
		}
	}
}

func TestBar(t *testing.T) {
	got := Bar("write", 50<<20, 100<<20, 2*time.Second)
	if !strings.Contains(got, " 50%") || !strings.Contains(got, "50/100 MiB") || !strings.Contains(got, "25.0 MiB/s") {
		t.Errorf("Bar = %q", got)
	}
}

func FuzzMountedFrom(f *testing.F) {
	f.Add([]byte(mountinfo), "/dev/sdb")
	f.Add([]byte("- - -\n"), "/dev/x")
	f.Fuzz(func(t *testing.T, info []byte, dev string) {
		MountedFrom(info, dev)
	})
}
