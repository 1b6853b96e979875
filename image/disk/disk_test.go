package disk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/matthan/matthan/hwtest/testenv"
)

func TestWriteReproducibleGPTAndFAT(t *testing.T) {
	for _, tool := range []string{"sfdisk", "mkfs.vfat", "mcopy"} {
		pkg := map[string]string{"sfdisk": "fdisk", "mkfs.vfat": "dosfstools", "mcopy": "mtools"}[tool]
		testenv.LookTool(t, tool, pkg)
	}
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	os.WriteFile(kernel, []byte(strings.Repeat("kernel", 1000)), 0o644)
	conf := filepath.Join(dir, "loader.conf")
	os.WriteFile(conf, []byte("timeout 0\n"), 0o644)
	spec := func(name string) Spec {
		return Spec{Path: filepath.Join(dir, name), BootMiB: 64, DataMiB: 64,
			Boot: map[string]string{"matthan/vmlinuz": kernel, "loader/loader.conf": conf}}
	}
	ctx := context.Background()
	l, err := Write(ctx, spec("a.img"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(ctx, spec("b.img")); err != nil {
		t.Fatal(err)
	}
	sa, size, _ := SHA256(filepath.Join(dir, "a.img"))
	sb, _, _ := SHA256(filepath.Join(dir, "b.img"))
	if sa != sb {
		t.Errorf("two images from the same inputs differ: %s vs %s", sa, sb)
	}
	if size != l.Total || size != (1+64+64+1)<<20 {
		t.Errorf("image size %d, layout %d", size, l.Total)
	}
	// Sparse: only the GPT and the FAT's used sectors take space.
	var st syscall.Stat_t
	syscall.Stat(filepath.Join(dir, "a.img"), &st)
	if used := st.Blocks * 512; used > 8<<20 {
		t.Errorf("image uses %d bytes on disk: not sparse", used)
	}
	out, err := exec.Command("sfdisk", "--dump", filepath.Join(dir, "a.img")).CombinedOutput()
	if err != nil {
		t.Fatalf("sfdisk --dump: %v\n%s", err, out)
	}
	for _, want := range []string{`name="matthan-boot"`, `name="matthan-data"`, "label: gpt", "start=        2048"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("partition table lacks %q:\n%s", want, out)
		}
	}
	// The boot partition is a FAT holding our files.
	part := filepath.Join(dir, "boot.part")
	exec.Command("dd", "if="+filepath.Join(dir, "a.img"), "of="+part, "bs=1M", "skip=1", "count=64").Run()
	out, err = exec.Command("mdir", "-i", part, "-/", "::/").CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "vmlinuz") || !strings.Contains(string(out), "loader") {
		t.Errorf("boot partition listing lacks files:\n%s", out)
	}
	got, _ := exec.Command("mtype", "-i", part, "::/loader/loader.conf").Output()
	if string(got) != "timeout 0\n" {
		t.Errorf("loader.conf on the FAT = %q", got)
	}
}

func TestSlotLayoutDataLast(t *testing.T) {
	for _, tt := range []struct {
		spec Spec
		want Layout
	}{
		{Spec{BootMiB: 512, DataMiB: 1024}, Layout{BootOffset: 1 << 20, BootSize: 512 << 20, DataOffset: 513 << 20, DataSize: 1024 << 20, Total: 1538 << 20}},
		{Spec{BootMiB: 64, SlotMiB: 256, DataMiB: 256}, Layout{BootOffset: 1 << 20, BootSize: 64 << 20,
			SlotAOffset: 65 << 20, SlotBOffset: 321 << 20, SlotSize: 256 << 20, DataOffset: 577 << 20, DataSize: 256 << 20, Total: 834 << 20}},
	} {
		if got := LayoutOf(tt.spec); got != tt.want {
			t.Errorf("LayoutOf(%+v) = %+v, want %+v", tt.spec, got, tt.want)
		}
	}
}
