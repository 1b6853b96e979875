package datapart

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

type sparse struct {
	size   int64
	blocks map[int64][]byte
}

func (s sparse) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		p[i] = 0
	}
	for at, b := range s.blocks {
		for i := range b {
			if o := at + int64(i) - off; o >= 0 && o < int64(len(p)) {
				p[o] = b[i]
			}
		}
	}
	return len(p), nil
}

func magic() []byte {
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, extMagic)
	return b
}

func TestProbe(t *testing.T) {
	const gib = 1 << 30
	for _, tt := range []struct {
		name   string
		blocks map[int64][]byte
		want   Kind
	}{
		{"zeros", nil, Empty},
		{"ext4", map[int64][]byte{1024 + 56: magic()}, Ext4},
		{"junk at start", map[int64][]byte{0: []byte("FAT32   ")}, Other},
		{"junk late in first MiB", map[int64][]byte{1<<20 - 1: {1}}, Other},
		{"backup superblock 4k", map[int64][]byte{32768*4096 + 56: magic()}, DamagedExt},
		{"backup superblock 1k", map[int64][]byte{8193*1024 + 56: magic()}, DamagedExt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Probe(sparse{gib, tt.blocks}, gib)
			if err != nil || got != tt.want {
				t.Errorf("Probe = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestProbeRealExt4(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not installed (e2fsprogs)")
	}
	img := filepath.Join(t.TempDir(), "data.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, 64<<20)
	f, _ := os.Open(img)
	if k, _ := Probe(f, 64<<20); k != Empty {
		t.Fatalf("fresh file: %v, want empty", k)
	}
	f.Close()
	if out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	f, _ = os.Open(img)
	defer f.Close()
	if k, err := Probe(f, 64<<20); k != Ext4 {
		t.Fatalf("after mkfs: %v %v, want ext4", k, err)
	}
	// Wipe the primary superblock: the backups must still stop a format.
	w, _ := os.OpenFile(img, os.O_WRONLY, 0)
	w.WriteAt(bytes.Repeat([]byte{0}, 1<<20), 0)
	w.Close()
	if k, _ := Probe(f, 64<<20); k != DamagedExt {
		t.Fatalf("after wiping the first MiB: %v, want %v", k, DamagedExt)
	}
}

func TestFindByLabel(t *testing.T) {
	dir := t.TempDir()
	for name, uevent := range map[string]string{
		"vda":  "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n",
		"vda1": "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\nPARTNAME=matthan-boot\n",
		"vda2": "MAJOR=254\nMINOR=2\nDEVNAME=vda2\nDEVTYPE=partition\nPARTN=2\nPARTNAME=matthan-data\n",
	} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		os.WriteFile(filepath.Join(dir, name, "uevent"), []byte(uevent), 0o644)
	}
	if got, err := FindByLabel(dir, DefaultLabel); err != nil || got != "/dev/vda2" {
		t.Errorf("FindByLabel = %q, %v; want /dev/vda2", got, err)
	}
	if _, err := FindByLabel(dir, "nope"); err == nil {
		t.Error("FindByLabel(nope) succeeded")
	}
}

func TestFsckSummary(t *testing.T) {
	for _, tt := range []struct {
		code int
		ok   bool
	}{{0, true}, {1, true}, {2, true}, {3, true}, {4, false}, {8, false}, {12, false}} {
		_, err := FsckSummary(tt.code)
		if (err == nil) != tt.ok {
			t.Errorf("FsckSummary(%d) err = %v, want ok=%v", tt.code, err, tt.ok)
		}
	}
}
