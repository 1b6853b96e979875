package pid1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/testenv"
)

// TestCheckFATRepairsADirtyBoot: the boot partition as a power cut leaves
// it (mounted when the power went: its dirty bit set) is repaired by
// init's check before the mount, which says so on the console and in its
// stages; the next check finds it clean. (firmware/fatcheck's tests break
// cluster chains too; TestUpdateUEFI sees the check on a real boot.)
func TestCheckFATRepairsADirtyBoot(t *testing.T) {
	tool := testenv.LookTool(t, "fsck.fat", "dosfstools")
	mkfs := testenv.LookTool(t, "mkfs.fat", "dosfstools")
	img := filepath.Join(t.TempDir(), "boot.img")
	if out, err := exec.Command(mkfs, "-C", "-F", "32", img, "66000").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.fat: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	b[0x41] |= 1 // the FAT32 state byte Linux sets while the partition is mounted
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	in := &Init{Console: &console, start: time.Now()}
	res, err := in.checkFAT(tool, img)
	if err != nil || !res.Repaired {
		t.Fatalf("checkFAT = %v, %v; want repaired", res, err)
	}
	if !strings.Contains(console.String(), "bootfs    ok: "+img+" repaired: ") || !strings.Contains(console.String(), "dirty bit") {
		t.Errorf("console: %q", console.String())
	}
	if len(in.stages) != 1 || in.stages[0].Name != "bootfs" || !in.stages[0].OK {
		t.Errorf("stages: %+v", in.stages)
	}
	console.Reset()
	if res, err := in.checkFAT(tool, img); err != nil || res.Repaired || !strings.Contains(console.String(), "bootfs    ok: "+img+" clean (") {
		t.Errorf("second check: %v, %v, console %q", res, err, console.String())
	}
	// Not a FAT: a failed stage, and the caller mounts anyway.
	zeros := filepath.Join(t.TempDir(), "zeros.img")
	os.WriteFile(zeros, make([]byte, 1<<20), 0o644)
	if _, err := in.checkFAT(tool, zeros); err == nil || !strings.Contains(console.String(), "bootfs    FAILED: ") {
		t.Errorf("zeros: %v, console %q", err, console.String())
	}
}
