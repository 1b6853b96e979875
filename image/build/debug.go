package build

import (
	"context"

	"github.com/matthan/matthan/image/initramfs"
)

// debugCommands are u-root core commands the debug image carries, each
// built as its own small program (a busybox build takes minutes here).
var debugCommands = []string{"gosh", "ls", "cat", "dmesg", "ps", "mount", "ip", "df", "free", "ln", "mkdir", "rm", "cp", "mv", "echo", "kill", "uname", "hexdump", "wget", "grep", "tail", "find", "sync", "shutdown"}

// addDebugTools adds a shell (/bin/sh) and u-root's core commands.
func addDebugTools(ctx context.Context, tree *initramfs.Tree, o Options, bins string) error {
	for _, c := range debugCommands {
		out := bins + "/" + c
		if err := crossBuild(ctx, o.Repo, "github.com/u-root/u-root/cmds/core/"+c, out, false); err != nil {
			return err
		}
		tree.File("bbin/"+c, 0o755, out)
	}
	tree.Symlink("bin/sh", "/bbin/gosh")
	return nil
}
