package fatcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/hwtest/testenv"
)

// fat32 is a FAT32 image made by mkfs.fat with two files written by
// mtools: keep (a loader entry, never damaged) and big (a slot's part,
// 600 clusters of 512 bytes, damaged by the cases).
type fat32 struct {
	path      string
	keep, big []byte
}

func makeFAT(t *testing.T) fat32 {
	t.Helper()
	mkfs := testenv.LookTool(t, "mkfs.fat", "dosfstools")
	mcopy := testenv.LookTool(t, "mcopy", "mtools")
	dir := t.TempDir()
	f := fat32{path: filepath.Join(dir, "esp.img"), keep: []byte("title Mat Than (A)\nsort-key matthan\n")}
	f.big = bytes.Repeat([]byte("0123456789abcdef"), 600*512/16)
	if out, err := exec.Command(mkfs, "-C", "-F", "32", "-i", "12345678", f.path, "66000").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.fat: %v\n%s", err, out)
	}
	for name, data := range map[string][]byte{"keep.conf": f.keep, "big.cpio": f.big} {
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(mcopy, "-i", f.path, src, "::/"+name).CombinedOutput(); err != nil {
			t.Fatalf("mcopy: %v\n%s", err, out)
		}
	}
	return f
}

// damage changes the image as a power cut can: fn gets the image's bytes
// and the byte offsets of each copy of the FAT.
func damage(t *testing.T, path string, fn func(img []byte, fats []int)) {
	t.Helper()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bps := int(binary.LittleEndian.Uint16(img[11:]))
	reserved := int(binary.LittleEndian.Uint16(img[14:]))
	n := int(img[16])
	perFAT := int(binary.LittleEndian.Uint32(img[36:]))
	var fats []int
	for i := 0; i < n; i++ {
		fats = append(fats, (reserved+i*perFAT)*bps)
	}
	fn(img, fats)
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// entry sets FAT entry n in every copy of the FAT.
func entry(img []byte, fats []int, n int, v uint32) {
	for _, off := range fats {
		binary.LittleEndian.PutUint32(img[off+4*n:], v)
	}
}

// clean runs fsck.fat -n: exit 0 is a file system without errors.
func clean(t *testing.T, path string) bool {
	t.Helper()
	err := exec.Command(testenv.LookTool(t, "fsck.fat", "dosfstools"), "-n", path).Run()
	return err == nil
}

func read(t *testing.T, img, name string) []byte {
	t.Helper()
	out, err := exec.Command(testenv.LookTool(t, "mtype", "mtools"), "-i", img, "::/"+name).Output()
	if err != nil {
		t.Fatalf("mtype %s: %v", name, err)
	}
	return out
}

// TestCheckRepairs: a FAT left as a power cut leaves it is repaired by
// Check (fsck.fat -n finds nothing after it), the file that was not
// being written reads back the same, and a clean one is left alone.
func TestCheckRepairs(t *testing.T) {
	tool := testenv.LookTool(t, "fsck.fat", "dosfstools")
	// The root folder is cluster 2; clusters 3..604 hold keep.conf (1
	// cluster) and big.cpio (600), in either order: 300 and 400 are
	// big's.
	for _, tt := range []struct {
		name   string
		damage func(img []byte, fats []int)
		found  string // in Result.Found
	}{
		{"clean", nil, ""},
		{"dirty: cut while mounted", func(img []byte, fats []int) {
			img[0x41] |= 1 // FAT32 boot sector's state byte, as Linux sets it while mounted
		}, "Dirty bit is set"},
		{"chain cut: a cluster of the file written marked free", func(img []byte, fats []int) {
			entry(img, fats, 300, 0)
		}, "free cluster"},
		{"chain beyond the end of the FAT", func(img []byte, fats []int) {
			entry(img, fats, 300, 0x0ffffff0-1)
		}, "out of range"},
		{"lost chain and dirty", func(img []byte, fats []int) {
			img[0x41] |= 1
			entry(img, fats, 400, 0x0fffffff) // the file ends early; its tail is lost
		}, "Truncating file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := makeFAT(t)
			if tt.damage != nil {
				damage(t, f.path, tt.damage)
				if clean(t, f.path) {
					t.Fatal("the damage left a clean file system: the case tests nothing")
				}
			}
			res, err := Check(context.Background(), tool, f.path)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if res.Repaired != (tt.damage != nil) {
				t.Errorf("Repaired = %v; result %v", res.Repaired, res)
			}
			if tt.found != "" && !strings.Contains(strings.Join(res.Found, "\n"), tt.found) {
				t.Errorf("Found = %q; want a line with %q", res.Found, tt.found)
			}
			if !strings.Contains(res.Summary, " files, ") {
				t.Errorf("Summary = %q", res.Summary)
			}
			if !clean(t, f.path) {
				t.Errorf("fsck.fat -n still finds errors after Check (%v)", res)
			}
			if got := read(t, f.path, "keep.conf"); !bytes.Equal(got, f.keep) {
				t.Errorf("keep.conf after the repair: %q", got)
			}
			if tt.damage == nil {
				if got := read(t, f.path, "big.cpio"); !bytes.Equal(got, f.big) {
					t.Errorf("big.cpio on a clean file system changed (%d bytes)", len(got))
				}
			}
			if strings.Contains(tt.name, "chain") {
				// fsck.fat -a keeps the lost tail as FSCK0000.REC: init
				// removes it (RemoveSalvaged) once mounted.
				if out, _ := exec.Command(testenv.LookTool(t, "mdir", "mtools"), "-b", "-i", f.path, "::/").Output(); !strings.Contains(strings.ToUpper(string(out)), "FSCK0000.REC") {
					t.Errorf("no FSCK0000.REC after a lost chain: %s", out)
				}
			}
			t.Logf("%s", res)
		})
	}
}

// TestParse: fsck.fat's report on the box (no iconv modules in the
// initramfs) keeps what it found and its summary, not its noise.
func TestParse(t *testing.T) {
	out := `fsck.fat 4.2 (2021-01-31)
Cannot initialize conversion from codepage 850 to ANSI_X3.4-1968: Invalid argument
Cannot initialize conversion from ANSI_X3.4-1968 to codepage 850: Invalid argument
Using internal CP850 conversion table
Dirty bit is set. Fs was not properly unmounted and some data may be corrupt.
 Automatically removing dirty bit.

*** Filesystem was changed ***
Writing changes.
/dev/vda1: 17 files, 38919/130811 clusters
`
	r := parse(out)
	if strings.Join(r.Found, "|") != "Dirty bit is set. Fs was not properly unmounted and some data may be corrupt.|Automatically removing dirty bit." ||
		r.Summary != "/dev/vda1: 17 files, 38919/130811 clusters" {
		t.Errorf("parse = %q, %q", r.Found, r.Summary)
	}
	many := strings.Repeat("/BIG.CPIO\n  Truncating file.\n", 30)
	if r := parse(many); len(r.Found) != maxLines {
		t.Errorf("%d lines kept of 60, want %d", len(r.Found), maxLines)
	}
}

// TestCheckRefuses: what is not a FAT, and a missing tool, are errors.
func TestCheckRefuses(t *testing.T) {
	tool := testenv.LookTool(t, "fsck.fat", "dosfstools")
	zeros := filepath.Join(t.TempDir(), "zeros.img")
	if err := os.WriteFile(zeros, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := Check(context.Background(), tool, zeros); err == nil {
		t.Errorf("Check of zeros = %v, nil; want an error", res)
	}
	if _, err := Check(context.Background(), filepath.Join(t.TempDir(), "fsck.fat"), zeros); err == nil {
		t.Error("Check with a missing fsck.fat: no error")
	}
	if _, err := Check(context.Background(), tool, filepath.Join(t.TempDir(), "absent.img")); err == nil {
		t.Error("Check of a missing device: no error")
	}
}

func TestRemoveSalvaged(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"FSCK0000.REC", "fsck0001.rec", "FSCK000A.REC", "FSCK0000.REC.txt", "keep.conf"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "FSCK0002.REC"), 0o755) // a folder is not fsck.fat's
	gone, err := RemoveSalvaged(dir)
	if err != nil || strings.Join(gone, " ") != "FSCK0000.REC fsck0001.rec" {
		t.Fatalf("RemoveSalvaged = %q, %v", gone, err)
	}
	des, _ := os.ReadDir(dir)
	var left []string
	for _, de := range des {
		left = append(left, de.Name())
	}
	if strings.Join(left, " ") != "FSCK0000.REC.txt FSCK0002.REC FSCK000A.REC keep.conf" {
		t.Errorf("left %q", left)
	}
	if _, err := RemoveSalvaged(filepath.Join(dir, "absent")); err == nil {
		t.Error("RemoveSalvaged of a missing folder: no error")
	}
}
