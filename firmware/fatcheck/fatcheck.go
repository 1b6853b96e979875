// Package fatcheck checks and repairs a FAT file system with dosfstools'
// fsck.fat before init mounts it read-write: the boot partition (the
// UEFI ESP, the Pi's boot FAT) and the Pi's slot partitions. A power cut
// while one of them is mounted leaves its dirty bit set, and one during a
// write can leave a cluster chain cut or pointing beyond the end; Linux
// then turns the file system read-only at the first bad entry it meets
// ("fat_free_clusters: deleting FAT entry beyond EOF"), and every later
// update fails to arm until the card is reflashed.
//
// Check runs `fsck.fat -a` (automatic repair: the least destructive fix
// for each problem; a chain cut short truncates its file, lost clusters
// are freed) and, when that changed something, `fsck.fat -n` (read only)
// to show nothing is left. In automatic mode fsck.fat keeps lost cluster
// chains as FSCKnnnn.REC files in the root folder: on a boot partition
// they are pieces of a slot's part that an install writes again, so
// RemoveSalvaged deletes them once the file system is mounted (repeated
// cuts would otherwise fill it). Both exit 0 on a clean file system and 1 when
// they found errors (see fsck.fat(8)).
package fatcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tool is fsck.fat's path in the initramfs (dosfstools, image/userland.json).
const Tool = "/sbin/fsck.fat"

// maxLines bounds what a Result keeps of fsck.fat's report.
const maxLines = 20

// Result says what the check found and did.
type Result struct {
	// Repaired: fsck.fat changed the file system (the dirty bit removed,
	// a cluster chain cut, lost clusters freed, ...).
	Repaired bool
	// Found is what fsck.fat reported, one line each, without its banner
	// and its closing lines (at most 20 lines).
	Found []string
	// Summary is fsck.fat's last line: "DEV: N files, U/T clusters".
	Summary string
}

// String is the result in one line, for the console.
func (r Result) String() string {
	if !r.Repaired {
		return "clean (" + r.Summary + ")"
	}
	return "repaired: " + strings.Join(r.Found, "; ") + " (" + r.Summary + ")"
}

// Check runs tool (fsck.fat) on dev, which must not be mounted: it
// repairs what it can, and returns an error when the file system is not
// FAT, or errors are left after the repair.
func Check(ctx context.Context, tool, dev string) (Result, error) {
	code, out, err := run(ctx, tool, "-a", dev)
	if err != nil {
		return Result{}, err
	}
	res := parse(out)
	switch code {
	case 0:
		return res, nil
	case 1: // errors found; -a fixed them, or could not
	default: // 2: usage error, the file system was not accessed
		return res, fmt.Errorf("fsck.fat -a %s: exit %d: %s", dev, code, lastLines(out))
	}
	res.Repaired = strings.Contains(out, "Filesystem was changed")
	code, again, err := run(ctx, tool, "-n", dev)
	if err != nil {
		return res, err
	}
	if code != 0 {
		return res, fmt.Errorf("fsck.fat %s: errors left after the repair (fsck.fat -n exit %d): %s", dev, code, lastLines(again))
	}
	return res, nil
}

// run runs tool with args and returns its exit code and its output.
func run(ctx context.Context, tool string, args ...string) (int, string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), out.String(), nil
	case err != nil:
		return 0, "", fmt.Errorf("%s %s: %w", tool, strings.Join(args, " "), err)
	}
	return 0, out.String(), nil
}

// parse keeps fsck.fat's findings and its summary line.
func parse(out string) Result {
	var r Result
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "", strings.HasPrefix(l, "fsck.fat "), strings.HasPrefix(l, "dosfsck "),
			strings.Contains(l, "Filesystem was changed"), l == "Writing changes.", l == "Performing changes.",
			// The initramfs has no iconv modules: fsck.fat says so and
			// uses its own code page 850 table (short names only).
			strings.HasPrefix(l, "Cannot initialize conversion "), strings.HasPrefix(l, "Using internal CP850"):
		case strings.Contains(l, " files, ") && strings.Contains(l, " clusters"):
			r.Summary = l
		case len(r.Found) < maxLines:
			r.Found = append(r.Found, l)
		}
	}
	return r
}

// lastLines is the end of fsck.fat's output, for an error.
func lastLines(out string) string {
	ls := strings.Split(strings.TrimSpace(out), "\n")
	if len(ls) > 3 {
		ls = ls[len(ls)-3:]
	}
	return strings.Join(ls, " / ")
}

// RemoveSalvaged deletes the FSCKnnnn.REC files fsck.fat -a left in the
// root folder dir of a mounted FAT and returns their names.
func RemoveSalvaged(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fatcheck: %w", err)
	}
	var gone []string
	for _, de := range des {
		if !isSalvage(de.Name()) || !de.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, de.Name())); err != nil {
			return gone, fmt.Errorf("fatcheck: %w", err)
		}
		gone = append(gone, de.Name())
	}
	return gone, nil
}

// isSalvage: FSCK0000.REC ... FSCK9999.REC, in any case (vfat shows
// short names in lower case unless told otherwise).
func isSalvage(name string) bool {
	n := strings.ToUpper(name)
	if len(n) != len("FSCK0000.REC") || !strings.HasPrefix(n, "FSCK") || !strings.HasSuffix(n, ".REC") {
		return false
	}
	for _, c := range n[4:8] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
