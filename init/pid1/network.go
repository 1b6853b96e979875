package pid1

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/daemon/boxname"
	"github.com/matthan/matthan/firmware/datapart"
	"github.com/matthan/matthan/firmware/fatcheck"
	"github.com/matthan/matthan/firmware/netconf"
	"github.com/matthan/matthan/init/netup"
	"golang.org/x/sys/unix"
)

// The boot partition (FAT32, GPT name matthan-boot) is mounted only while
// init looks for matthan-network.txt on it, and while it checks, installs
// or confirms an update; fsck.fat checks it before each mount.
const (
	BootLabel = "matthan-boot"
	BootDir   = "/boot"
)

// byName is " or https://matthan-XXXX.local:8443/" for the ready line
// (the name the daemon announces by mDNS), "" without an uplink MAC.
func (in *Init) byName() string {
	n, err := boxname.ForInterface(in.uplink)
	if in.uplink == "" || err != nil {
		return ""
	}
	return " or https://" + boxname.Host(n) + ":" + AdminTLSPort + "/"
}

// networkSetting finds the uplink setting file (netconf.Resolve): on the
// boot partition, moved to the data partition when that is persistent,
// else the data partition's copy.
func (in *Init) networkSetting() netconf.Resolved {
	in.mu.Lock()
	persistent := in.data.Mounted && !in.data.RAM
	in.mu.Unlock()
	bootDir, unmount := in.mountBoot()
	defer unmount()
	return netconf.Resolve(bootDir, DataDir, persistent)
}

// mountBoot checks the boot partition (mountFAT) and mounts it on
// BootDir; "" when there is none (a direct kernel boot in tests) or it
// does not mount.
func (in *Init) mountBoot() (dir string, unmount func()) {
	dev, err := datapart.FindByLabel("/sys/class/block", BootLabel)
	if err != nil {
		return "", func() {}
	}
	if err := in.mountFAT(dev, BootDir); err != nil {
		in.printf("bootfs: %v", err)
		return "", func() {}
	}
	return BootDir, func() { unix.Sync(); unix.Unmount(BootDir, 0) }
}

// mountFAT checks the FAT file system on dev with fsck.fat -a (a power
// cut while it was mounted or written leaves it dirty or damaged, and
// Linux turns it read-only at the first bad entry it meets), mounts it
// read-write on dir and removes the lost chains the check kept as
// FSCKnnnn.REC. A check that fails is said on the console and the
// partition is mounted anyway: the box must still read its setting and
// boot entries; an install on it then fails and says why.
func (in *Init) mountFAT(dev, dir string) error {
	res, err := in.checkFAT(fatcheck.Tool, dev)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, dir, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", dev, dir, err)
	}
	if err == nil && res.Repaired {
		gone, err := fatcheck.RemoveSalvaged(dir)
		if len(gone) > 0 || err != nil {
			in.printf("bootfs: %s: removed the lost chains fsck.fat kept: %v %v", dev, gone, err)
		}
	}
	return nil
}

// checkFAT runs the check (fatcheck.Check with tool) on dev and says what
// it did: a clean file system in one console line, a repair or a failure
// as a boot stage ("bootfs").
func (in *Init) checkFAT(tool, dev string) (fatcheck.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := fatcheck.Check(ctx, tool, dev)
	took := time.Since(start).Seconds()
	switch {
	case err != nil:
		in.stage("bootfs", err, "%s: fsck.fat -a", dev)
	case res.Repaired:
		in.stage("bootfs", nil, "%s %s (fsck.fat -a, %.1f s)", dev, res, took)
	default:
		in.printf("%-9s ok: %s %s (fsck.fat -a, %.1f s)", "bootfs", dev, res, took)
	}
	return res, err
}

// uplinkConfig is the uplink's configuration by precedence: the kernel
// command line's matthan.ip (tests, make run), then the setting file,
// then the board's default. from says which, for the console.
func uplinkConfig(b *board.Board, saved netconf.Resolved, cmdlineIP string) (cfg netup.Config, from string, err error) {
	cfg, from = netup.Config{Interface: "eth0", DHCP: true}, "default"
	if b != nil {
		n := b.Network
		cfg, from = netup.Config{Interface: n.Uplink, DHCP: n.DHCP, Address: n.Address, Gateway: n.Gateway}, "board"
	}
	if saved.Source != netconf.None {
		c := saved.Config
		cfg.DHCP, cfg.Address, cfg.Gateway, cfg.DNS = c.DHCP, "", "", nil
		if !c.DHCP {
			cfg.Address = c.Address.String()
			if c.Gateway.IsValid() {
				cfg.Gateway = c.Gateway.String()
			}
			for _, d := range c.DNS {
				cfg.DNS = append(cfg.DNS, d.String())
			}
		}
		from = netconf.FileName + " on the " + string(saved.Source)
		if saved.Moved {
			from += ", moved to the data partition"
		}
	}
	if cmdlineIP != "" {
		cfg, err = cfg.ParseOverride(cmdlineIP)
		if err != nil {
			return cfg, "matthan.ip", fmt.Errorf("matthan.ip: %w", err)
		}
		from = "matthan.ip"
	}
	return cfg, from, nil
}
