package disks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzMountInfo: any mountinfo content parses without panicking, and a
// mount point escaped the kernel's way comes back as it was.
func FuzzMountInfo(f *testing.F) {
	b, _ := os.ReadFile("testdata/mountinfo")
	f.Add(string(b), "/media/usb stick")
	f.Add("1 2 8:1 / /a\\134b rw - ext4 /dev/sda1 rw\n", "/x\ty")
	f.Add("\\\\\\0", "\\")
	f.Fuzz(func(t *testing.T, content, mp string) {
		p := filepath.Join(t.TempDir(), "mountinfo")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readMounts(p); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(mp, "\n") || mp == "" {
			return
		}
		var esc strings.Builder
		for i := 0; i < len(mp); i++ {
			switch c := mp[i]; c {
			case ' ', '\t', '\\', '\n':
				esc.WriteString("\\" + string([]byte{'0' + c>>6, '0' + c>>3&7, '0' + c&7}))
			default:
				esc.WriteByte(c)
			}
		}
		os.WriteFile(p, []byte("30 22 8:33 / "+esc.String()+" rw - vfat /dev/sdc1 rw\n"), 0o644)
		m, err := readMounts(p)
		if err != nil || m["8:33"] != mp {
			t.Errorf("mount point %q came back as %q (%v)", mp, m["8:33"], err)
		}
	})
}
