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

// AutobootTxt is the Raspberry Pi boot partition's only file when the
// board has slot partitions: the EEPROM bootloader reads it from partition
// 1 and boots slot A (partition 2); a one-shot `reboot "0 tryboot"` boots
// slot B (partition 3) once. The updater (issue 16) swaps the numbers when
// it makes a slot permanent.
const AutobootTxt = "[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n"

// SlotDir is where slot A's kernel and initramfs live on a UEFI board's
// boot partition; slot B goes to matthan/b/ (systemd-boot reads kernels
// only from the ESP, so the slots are folders there).
const SlotDir = "matthan/a"

// bootFiles lists the boot partition's files for the board's boot method,
// and slot A's when the board has slot partitions.
func bootFiles(ctx context.Context, b *board.Board, f *debs.Fetcher, o Options, res *Result, kernelTree string) (boot, slotA map[string]string, err error) {
	files, err := payloadFiles(ctx, b, f, o, res, kernelTree)
	if err != nil || b.Disk.SlotMiB == 0 {
		return files, nil, err
	}
	gen := filepath.Join(o.Out, "boot")
	p := filepath.Join(gen, "autoboot.txt")
	if err := os.WriteFile(p, []byte(AutobootTxt), 0o644); err != nil {
		return nil, nil, err
	}
	return map[string]string{"autoboot.txt": p}, files, nil
}

// payloadFiles lists the files that boot the board's firmware.
func payloadFiles(ctx context.Context, b *board.Board, f *debs.Fetcher, o Options, res *Result, kernelTree string) (map[string]string, error) {
	gen := filepath.Join(o.Out, "boot")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return nil, err
	}
	write := func(name, content string) (string, error) {
		p := filepath.Join(gen, strings.ReplaceAll(name, "/", "_"))
		return p, os.WriteFile(p, []byte(content), 0o644)
	}
	// unpackBoot unpacks the boot package the board pins under that name.
	unpackBoot := func(pkg, loader string) (string, error) {
		for _, p := range b.BootPackages {
			if p.Package == pkg {
				return unpack(ctx, f, p, o.Cache)
			}
		}
		return "", fmt.Errorf("board %s boots with %s but does not pin %s", b.Name, loader, pkg)
	}
	cmdline := strings.TrimSpace(b.Cmdline + " " + o.Cmdline)
	files := map[string]string{}
	switch b.Boot.Method {
	case board.BootUEFI:
		tree, err := unpackBoot("systemd-boot-efi", "systemd-boot")
		if err != nil {
			return nil, err
		}
		files["EFI/BOOT/BOOTAA64.EFI"] = filepath.Join(tree, "usr/lib/systemd/boot/efi/systemd-bootaa64.efi")
		files[SlotDir+"/vmlinuz"] = res.Kernel
		files[SlotDir+"/initrd.cpio"] = res.Initramfs
		loader, err := write("loader/loader.conf", "default matthan-a.conf\ntimeout 0\nconsole-mode keep\neditor no\n")
		if err != nil {
			return nil, err
		}
		files["loader/loader.conf"] = loader
		entry, err := write("loader/entries/matthan-a.conf", fmt.Sprintf(
			"title Mat Than (A)\nlinux /%[1]s/vmlinuz\ninitrd /%[1]s/initrd.cpio\noptions %[2]s\n", SlotDir, cmdline))
		if err != nil {
			return nil, err
		}
		files["loader/entries/matthan-a.conf"] = entry
	case board.BootRPi:
		tree, err := unpackBoot("raspi-firmware", "the Pi firmware")
		if err != nil {
			return nil, err
		}
		for _, name := range b.Boot.FirmwareFiles {
			files[name] = filepath.Join(tree, "usr/lib/raspi-firmware", name)
		}
		for _, dtb := range b.Boot.DTBs {
			files[filepath.Base(dtb)] = filepath.Join(kernelTree, "usr/lib/linux-image-"+res.Release, dtb)
		}
		if b.Boot.RTC != nil {
			dtbo, err := RTCOverlay(*b.Boot.RTC)
			if err != nil {
				return nil, err
			}
			p, err := write(board.RTCOverlayFile, string(dtbo))
			if err != nil {
				return nil, err
			}
			files[board.RTCOverlayFile] = p
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
