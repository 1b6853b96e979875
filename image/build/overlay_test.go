package build

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/hwtest/testenv"
)

// The RTC overlay, applied by an independent tool (fdtoverlay, as the Pi
// firmware would) to the Pi 4's real device tree from the pinned kernel,
// puts a DS3231 on the 40-pin header's I²C bus (i2c1), which that tree
// already enables with its pins.
func TestRTCOverlayOnThePi4Tree(t *testing.T) {
	fdtoverlay := testenv.LookTool(t, "fdtoverlay", "device-tree-compiler")
	dtc := testenv.LookTool(t, "dtc", "device-tree-compiler")
	b, err := board.Load("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	if b.Boot.RTC == nil {
		t.Fatal("rpi4 declares no RTC")
	}
	dtbo, err := RTCOverlay(*b.Boot.RTC)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	overlay := filepath.Join(dir, "matthan-rtc.dtbo")
	os.WriteFile(overlay, dtbo, 0o644)
	// The overlay itself decompiles.
	if out, err := exec.Command(dtc, "-I", "dtb", "-O", "dts", overlay).CombinedOutput(); err != nil || !strings.Contains(string(out), `target-path = "/soc/i2c@7e804000"`) {
		t.Fatalf("dtc on the overlay: %v\n%s", err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(testenv.OutDir(), "cache", "unpacked", "linux-image-"+b.Kernel.Release()+"-unsigned_*", "usr", "lib", "linux-image-"+b.Kernel.Release(), "broadcom", "bcm2711-rpi-4-b.dtb"))
	if len(matches) == 0 {
		testenv.Missing(t, "the pinned kernel is not unpacked under %s/cache: run make image BOARD=rpi4 once", testenv.OutDir())
		return
	}
	merged := filepath.Join(dir, "merged.dtb")
	if out, err := exec.Command(fdtoverlay, "-i", matches[0], "-o", merged, overlay).CombinedOutput(); err != nil {
		t.Fatalf("fdtoverlay: %v\n%s", err, out)
	}
	out, err := exec.Command(dtc, "-I", "dtb", "-O", "dts", merged).CombinedOutput()
	if err != nil {
		t.Fatalf("dtc: %v", err)
	}
	text := string(out)
	i := strings.Index(text, "i2c@7e804000 {")
	if i < 0 {
		t.Fatal("no i2c@7e804000 in the merged tree")
	}
	end := strings.Index(text[i:], "\n\t\t};")
	node := text[i : i+end]
	for _, want := range []string{`status = "okay"`, "rtc@68 {", `compatible = "maxim,ds3231"`, "reg = <0x68>"} {
		if !strings.Contains(node, want) {
			t.Errorf("merged i2c1 node lacks %q:\n%s", want, node)
		}
	}
}
