package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Loop attaches file to a free loop device (with partition scanning when
// partscan is set) and detaches it when the test ends. It skips (fails
// under MATTHAN_REQUIRE_TOOLS=1) when not root or without loop support.
func Loop(t testing.TB, file string, partscan bool) string {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "loop devices need root (run the test as root)")
	}
	losetup := LookTool(t, "losetup", "mount")
	args := []string{"-f", "--show"}
	if partscan {
		args = append(args, "-P")
	}
	out, err := exec.Command(losetup, append(args, file)...).CombinedOutput()
	if err != nil {
		Missing(t, "no loop device (losetup -f --show %s: %v: %s)", file, err, strings.TrimSpace(string(out)))
	}
	dev := strings.TrimSpace(string(out))
	if partscan {
		// Some kernels (loop max_part=0) ignore -P: add the partitions
		// through BLKPG with partx, and remove them before detaching.
		if m, _ := filepath.Glob("/sys/class/block/" + filepath.Base(dev) + "p*"); len(m) == 0 {
			if out, err := exec.Command("partx", "-a", dev).CombinedOutput(); err != nil {
				exec.Command(losetup, "-d", dev).Run()
				Missing(t, "partitions of %s: partx -a: %v: %s", dev, err, out)
			}
		}
	}
	t.Cleanup(func() {
		if partscan {
			exec.Command("partx", "-d", dev).Run()
		}
		// The kernel may still hold the device for a moment after a close.
		for i := 0; i < 50; i++ {
			if exec.Command(losetup, "-d", dev).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("losetup -d %s failed", dev)
	})
	return dev
}
