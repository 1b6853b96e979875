package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

func sample(t *testing.T) *Tree {
	src := filepath.Join(t.TempDir(), "init")
	os.WriteFile(src, []byte("#!/bin/true\n"), 0o755)
	tr := New()
	tr.File("/init", 0o755, src)
	tr.Bytes("etc/matthan/board.json", 0o644, []byte(`{"name":"x"}`))
	tr.Symlink("lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu/ld-linux-aarch64.so.1")
	return tr
}

func TestReproducibleAndReadable(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := sample(t).WriteTo(&a); err != nil {
		t.Fatal(err)
	}
	if _, err := sample(t).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two builds from the same inputs differ")
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(a.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		if r.MTime != 0 || r.UID != 0 {
			t.Errorf("%s: mtime %d uid %d, want 0", r.Name, r.MTime, r.UID)
		}
		names = append(names, r.Name)
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"dev/console", "etc/matthan", "etc/matthan/board.json", "init", "lib/aarch64-linux-gnu"} {
		if want == "lib/aarch64-linux-gnu" {
			continue // a symlink's target is not created
		}
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("archive lacks %s: %s", want, got)
		}
	}
	if !strings.HasPrefix(got, "bin ") {
		t.Errorf("entries not sorted: %s", got)
	}
}

func TestCpioToolReadsIt(t *testing.T) {
	cpioTool, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio not installed")
	}
	var a bytes.Buffer
	sample(t).WriteTo(&a)
	cmd := exec.Command(cpioTool, "-t")
	cmd.Stdin = &a
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "etc/matthan/board.json") {
		t.Errorf("cpio -t output lacks the board file:\n%s", out)
	}
}
