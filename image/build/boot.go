package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/image/debs"
)

// bootFiles lists the boot partition's files for the board's boot method.
func bootFiles(ctx context.Context, b *board.Board, f *debs.Fetcher, o Options, res *Result, kernelTree string) (map[string]string, error) {
	gen := filepath.Join(o.Out, "boot")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return nil, err
	}
	write := func(name, content string) (string, error) {
		p := filepath.Join(gen, strings.ReplaceAll(name, "/", "_"))
		return p, os.WriteFile(p, []byte(content), 0o644)
	}
	cmdline := strings.TrimSpace(b.Cmdline + " " + o.Cmdline)
	files := map[string]string{}
	switch b.Boot.Method {
	case board.BootUEFI:
		var sdboot board.DebPin
		for _, p := range b.BootPackages {
			if p.Package == "systemd-boot-efi" {
				sdboot = p
			}
		}
		if sdboot.Package == "" {
			return nil, fmt.Errorf("board %s boots with systemd-boot but does not pin systemd-boot-efi", b.Name)
		}
		tree, err := unpack(ctx, f, sdboot, o.Cache)
		if err != nil {
			return nil, err
		}
		files["EFI/BOOT/BOOTAA64.EFI"] = filepath.Join(tree, "usr/lib/systemd/boot/efi/systemd-bootaa64.efi")
		files["matthan/vmlinuz"] = res.Kernel
		files["matthan/initrd.cpio"] = res.Initramfs
		loader, err := write("loader/loader.conf", "default matthan.conf\ntimeout 0\nconsole-mode keep\neditor no\n")
		if err != nil {
			return nil, err
		}
		files["loader/loader.conf"] = loader
		entry, err := write("loader/entries/matthan.conf", fmt.Sprintf(
			"title Mat Than\nlinux /matthan/vmlinuz\ninitrd /matthan/initrd.cpio\noptions %s\n", cmdline))
		if err != nil {
			return nil, err
		}
		files["loader/entries/matthan.conf"] = entry
	case board.BootRPi:
		var fw board.DebPin
		for _, p := range b.BootPackages {
			if p.Package == "raspi-firmware" {
				fw = p
			}
		}
		if fw.Package == "" {
			return nil, fmt.Errorf("board %s boots with the Pi firmware but does not pin raspi-firmware", b.Name)
		}
		tree, err := unpack(ctx, f, fw, o.Cache)
		if err != nil {
			return nil, err
		}
		for _, name := range b.Boot.FirmwareFiles {
			files[name] = filepath.Join(tree, "usr/lib/raspi-firmware", name)
		}
		for _, dtb := range b.Boot.DTBs {
			files[filepath.Base(dtb)] = filepath.Join(kernelTree, "usr/lib/linux-image-"+res.Release, dtb)
		}
		cfg, err := write("config.txt", b.Boot.ConfigTxt)
		if err != nil {
			return nil, err
		}
		files["config.txt"] = cfg
		cl, err := write("cmdline.txt", cmdline+"\n")
		if err != nil {
			return nil, err
		}
		files["cmdline.txt"] = cl
		files["vmlinuz"] = res.Kernel
		files["initrd.cpio"] = res.Initramfs
	default:
		return nil, fmt.Errorf("boot method %q not supported", b.Boot.Method)
	}
	for dst, src := range files {
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("boot file %s: %w", dst, err)
		}
	}
	return files, nil
}
