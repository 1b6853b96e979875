// Package initramfs writes the box's initramfs: a newc cpio archive built
// in memory from a list of files, with every entry sorted, owned by root
// and timestamped 0, so the same inputs always give the same bytes. It
// uses u-root's cpio package for the format.
package initramfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

type kind int

const (
	file kind = iota
	dir
	symlink
	chardev
)

type entry struct {
	kind         kind
	perm         uint64
	data         []byte
	src          string
	target       string
	major, minor uint64
}

// Tree is the content of an initramfs, keyed by path (no leading slash).
type Tree struct {
	entries map[string]entry
}

// New returns an empty tree holding the directories and device nodes
// every boot needs (/dev/console for init's first output).
func New() *Tree {
	t := &Tree{entries: map[string]entry{}}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "data", "etc", "bin", "sbin", "lib"} {
		t.Dir(d, 0o755)
	}
	t.Dir("tmp", 0o1777)
	t.CharDev("dev/console", 0o600, 5, 1)
	t.CharDev("dev/null", 0o666, 1, 3)
	return t
}

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// Dir adds a directory.
func (t *Tree) Dir(p string, perm uint64) { t.entries[clean(p)] = entry{kind: dir, perm: perm} }

// Bytes adds a file with the given content.
func (t *Tree) Bytes(p string, perm uint64, data []byte) {
	t.entries[clean(p)] = entry{kind: file, perm: perm, data: data}
}

// File adds a file copied from the build machine at write time.
func (t *Tree) File(p string, perm uint64, src string) {
	t.entries[clean(p)] = entry{kind: file, perm: perm, src: src}
}

// Symlink adds a symbolic link.
func (t *Tree) Symlink(p, target string) { t.entries[clean(p)] = entry{kind: symlink, target: target} }

// CharDev adds a character device node.
func (t *Tree) CharDev(p string, perm, major, minor uint64) {
	t.entries[clean(p)] = entry{kind: chardev, perm: perm, major: major, minor: minor}
}

// Paths lists the tree's paths, sorted.
func (t *Tree) Paths() []string {
	t.addParents()
	ps := make([]string, 0, len(t.entries))
	for p := range t.entries {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

func (t *Tree) addParents() {
	for p := range t.entries {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := t.entries[d]; !ok {
				t.entries[d] = entry{kind: dir, perm: 0o755}
			}
		}
	}
}

// WriteTo writes the archive; it returns the number of bytes written.
func (t *Tree) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	rw := cpio.Newc.Writer(cw)
	for i, p := range t.Paths() {
		e := t.entries[p]
		var rec cpio.Record
		switch e.kind {
		case dir:
			rec = cpio.Directory(p, e.perm)
		case symlink:
			rec = cpio.Symlink(p, e.target)
		case chardev:
			rec = cpio.CharDev(p, e.perm, e.major, e.minor)
		case file:
			data := e.data
			if e.src != "" {
				b, err := os.ReadFile(e.src)
				if err != nil {
					return cw.n, fmt.Errorf("initramfs %s: %w", p, err)
				}
				data = b
			}
			rec = cpio.StaticFile(p, string(data), e.perm)
		}
		rec = cpio.MakeReproducible(rec)
		rec.Ino = uint64(i + 1)
		if err := rw.WriteRecord(rec); err != nil {
			return cw.n, fmt.Errorf("initramfs %s: %w", p, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return cw.n, fmt.Errorf("initramfs trailer: %w", err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
