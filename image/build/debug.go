package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/matthan/matthan/image/debs"
	"github.com/matthan/matthan/image/initramfs"
)

// debugCommands are u-root core commands the debug image carries in
// /bbin, each built as its own small program.
var debugCommands = []string{"ls", "cat", "dmesg", "ps", "mount", "ip", "df", "free", "grep"}

// addDebugTools gives the debug image a shell: /bin/sh from Debian's
// static busybox (u-root's gosh needs modules this repository does not
// pin), and u-root's core commands in /bbin, first on the shell's PATH.
func addDebugTools(ctx context.Context, tree *initramfs.Tree, o Options, bins string) error {
	u, err := LoadUserland(o.Repo)
	if err != nil {
		return err
	}
	f := &debs.Fetcher{Dir: filepath.Join(o.Cache, "debs"), Log: o.Log}
	for _, p := range u.DebugPackages {
		dir, err := unpack(ctx, f, p, o.Cache)
		if err != nil {
			return err
		}
		bb := filepath.Join(dir, "bin", "busybox")
		if _, err := os.Stat(bb); err != nil {
			return fmt.Errorf("debug shell: %s has no bin/busybox", p.Package)
		}
		tree.File("bin/busybox", 0o755, bb)
		tree.Symlink("bin/sh", "busybox")
	}
	for _, c := range debugCommands {
		out := filepath.Join(bins, "uroot-"+c)
		if err := crossBuild(ctx, o.Repo, "github.com/u-root/u-root/cmds/core/"+c, out); err != nil {
			return err
		}
		tree.File("bbin/"+c, 0o755, out)
	}
	return nil
}
