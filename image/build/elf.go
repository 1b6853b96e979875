package build

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// libDirs are where Debian arm64 keeps shared libraries, relative to an
// unpacked root.
var libDirs = []string{"lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib"}

// ELFClosure returns the programs plus every shared library they need
// (transitively, DT_NEEDED and the interpreter), as paths relative to
// root, sorted. Symlinked libraries are resolved to their files, kept
// under the name the program asks for.
func ELFClosure(root string, programs []string) ([]string, error) {
	want := map[string]bool{}
	var queue []string
	for _, p := range programs {
		queue = append(queue, p)
	}
	for len(queue) > 0 {
		rel := queue[0]
		queue = queue[1:]
		if want[rel] {
			continue
		}
		want[rel] = true
		f, err := elf.Open(filepath.Join(root, rel))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b := make([]byte, prog.Filesz)
				prog.ReadAt(b, 0)
				interp := strings.TrimRight(string(b), "\x00")
				libs = append(libs, filepath.Base(interp))
			}
		}
		f.Close()
		for _, lib := range libs {
			found := ""
			for _, d := range libDirs {
				if _, err := os.Stat(filepath.Join(root, d, lib)); err == nil {
					found = filepath.Join(d, lib)
					break
				}
			}
			if found == "" {
				return nil, fmt.Errorf("%s needs %s, which no package in the list provides", rel, lib)
			}
			queue = append(queue, found)
		}
	}
	var out []string
	for p := range want {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func shortHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}
