package pid1

import (
	"fmt"
	"os"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/daemon/boxname"
	"github.com/matthan/matthan/firmware/datapart"
	"github.com/matthan/matthan/firmware/netconf"
	"github.com/matthan/matthan/init/netup"
	"golang.org/x/sys/unix"
)

// The boot partition (FAT32, GPT name matthan-boot) is mounted only while
// init looks for matthan-network.txt on it.
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
	bootDir, unmount := mountBoot()
	defer unmount()
	return netconf.Resolve(bootDir, DataDir, persistent)
}

// mountBoot mounts the boot partition on BootDir; "" when there is none
// (a direct kernel boot in tests) or it does not mount.
func mountBoot() (dir string, unmount func()) {
	dev, err := datapart.FindByLabel("/sys/class/block", BootLabel)
	if err != nil {
		return "", func() {}
	}
	if err := os.MkdirAll(BootDir, 0o755); err != nil {
		return "", func() {}
	}
	if err := unix.Mount(dev, BootDir, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return "", func() {}
	}
	return BootDir, func() { unix.Sync(); unix.Unmount(BootDir, 0) }
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
