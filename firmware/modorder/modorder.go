// Package modorder is the kernel-module load-order file that the image
// build writes into the initramfs and init reads at boot: one format, one
// writer and one reader for both sides.
//
// The Debian kernel package ships no modules.dep for the initramfs. The
// image build runs depmod on the package, resolves the board's modules and
// their dependencies, and lists them dependencies first, one per line
// relative to the module directory (/lib/modules/RELEASE); after a ':'
// each line may name the files it depends on (modules.dep style), which
// lets independent modules load in parallel.
package modorder

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// File is the order file's name inside the module directory.
const File = "matthan.load-order"

// Entry is one module and the modules it needs loaded first.
type Entry struct {
	Path string
	Deps []string
}

// Parse reads an order file's content. Blank lines and lines starting
// with '#' are skipped.
func Parse(b []byte) []Entry {
	var es []Entry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		path, deps, _ := strings.Cut(l, ":")
		e := Entry{Path: strings.TrimSpace(path)}
		if d := strings.Fields(deps); len(d) > 0 {
			e.Deps = d
		}
		es = append(es, e)
	}
	return es
}

// Format writes entries, dependencies first as given, under a comment
// line naming who made the file.
func Format(comment string, es []Entry) []byte {
	var b bytes.Buffer
	if comment != "" {
		fmt.Fprintf(&b, "# %s\n", comment)
	}
	for _, e := range es {
		fmt.Fprintf(&b, "%s: %s\n", e.Path, strings.Join(e.Deps, " "))
	}
	return b.Bytes()
}
