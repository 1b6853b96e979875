// Package board reads the board definitions kept as data in this folder:
// one folder per board (qemu-virt/, rpi4/) holding a board.json that names
// the Debian kernel package (pinned version and checksum), the kernel
// modules to load, the boot files, the serial console, the network uplink
// and the GPIO pin map. Adding a board is adding one folder of data.
//
// The same JSON is copied into the initramfs at /etc/matthan/board.json, so
// init and the daemon on the box read exactly what the image was built from.
package board

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

//go:embed */board.json
var definitions embed.FS

// PathOnBox is where the image puts the board definition in the initramfs.
const PathOnBox = "/etc/matthan/board.json"

// Board is one board definition.
type Board struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Arch        string `json:"arch"`
	// Kernel is the Debian kernel package, pinned.
	Kernel KernelPin `json:"kernel"`
	// BootPackages are the other Debian packages the boot partition takes
	// files from (systemd-boot, Raspberry Pi firmware).
	BootPackages []DebPin `json:"boot_packages"`
	// Modules are the kernel modules init loads, by name; their
	// dependencies are resolved when the image is built.
	Modules []string `json:"modules"`
	// LoadAfter orders modules the kernel states no dependency between:
	// module -> modules that must be loaded before it (a NIC driver after
	// its bus driver: loaded side by side, the two NICs' probes race and
	// eth0 may be the camera port). Names must be in Modules.
	LoadAfter map[string][]string `json:"load_after,omitempty"`
	Boot      Boot                `json:"boot"`
	// Console is the serial console device (without /dev/).
	Console string `json:"console"`
	// Cmdline is the kernel command line the boot files carry.
	Cmdline string  `json:"cmdline"`
	Network Network `json:"network"`
	// CameraNetwork is the interface the cameras plug into (the box is
	// its DHCP server, time server and only host); nil: the board has none.
	CameraNetwork *CameraNetwork `json:"camera_network,omitempty"`
	Watchdog      string         `json:"watchdog,omitempty"`
	GPIO          PinMap         `json:"gpio"`
	Disk          Disk           `json:"disk"`
}

// DebPin names one Debian package at an exact version and its checksum.
type DebPin struct {
	Package string `json:"package"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// KernelPin is the kernel package pin plus the glob of package names the
// pin may move along when the archive drops the pinned ABI.
type KernelPin struct {
	DebPin
	// Series is a glob such as "linux-image-6.1.0-*-arm64-unsigned".
	Series string `json:"series"`
}

// Release is the kernel release (uname -r) of the pinned package, e.g.
// "6.1.0-56-arm64" for linux-image-6.1.0-56-arm64-unsigned.
func (k KernelPin) Release() string {
	r := strings.TrimPrefix(k.Package, "linux-image-")
	return strings.TrimSuffix(r, "-unsigned")
}

// Boot describes how the board's firmware finds the kernel.
type Boot struct {
	// Method is "uefi-systemd-boot" or "rpi-firmware".
	Method string `json:"method"`
	// DTBs are device trees (paths below the kernel package's
	// usr/lib/linux-image-RELEASE/) copied to the boot partition.
	DTBs []string `json:"dtbs"`
	// FirmwareFiles are files of raspi-firmware's usr/lib/raspi-firmware/.
	FirmwareFiles []string `json:"firmware_files,omitempty"`
	// ConfigTxt is the Raspberry Pi config.txt.
	ConfigTxt string `json:"config_txt,omitempty"`
	// RTC, if set, is a battery-backed RTC chip the board may have fitted
	// (rpi4: a DS3231 on the 40-pin header's I²C): the image carries a
	// device tree overlay declaring it (RTCOverlayFile, applied by the Pi
	// firmware: config_txt must say dtoverlay=matthan-rtc). Where it is
	// not fitted the driver finds nothing and the box has no RTC.
	RTC *RTCChip `json:"rtc,omitempty"`
}

// RTCChip is an RTC chip on an I²C bus.
type RTCChip struct {
	// I2CBus is the bus's node path in the board's device tree.
	I2CBus string `json:"i2c_bus"`
	// Compatible is the chip's device tree compatible string (the
	// kernel's rtc-ds1307 driver binds "maxim,ds3231").
	Compatible string `json:"compatible"`
	// Address is its 7-bit I²C address.
	Address uint32 `json:"address"`
}

// RTCOverlayFile is the overlay's path on an rpi-firmware boot partition.
const RTCOverlayFile = "overlays/matthan-rtc.dtbo"

// Boot methods.
const (
	BootUEFI = "uefi-systemd-boot"
	BootRPi  = "rpi-firmware"
)

// Network is the uplink configuration: DHCP, or a static address.
type Network struct {
	Uplink  string `json:"uplink"`
	DHCP    bool   `json:"dhcp,omitempty"`
	Address string `json:"address,omitempty"` // CIDR, e.g. 10.0.2.15/24
	Gateway string `json:"gateway,omitempty"`
}

// CameraNetwork is the cameras' own network: its interface and the box's
// static address on it (CIDR), which also gives the network.
type CameraNetwork struct {
	Interface string `json:"interface"`
	Address   string `json:"address"`
	// Note says, for people, what the interface is on this board.
	Note string `json:"note,omitempty"`
}

// PinMap says which GPIO line does what, on which chip (the chip's label
// as the kernel reports it, e.g. "9030000.pl061").
type PinMap struct {
	Chip          string `json:"chip"`
	IRLED         int    `json:"ir_led"`
	StatusLED     int    `json:"status_led"`
	LightSensor   int    `json:"light_sensor"`
	PairingButton int    `json:"pairing_button"`
	// ButtonActiveHigh: the pairing button reads high when pressed. The
	// default is a button to ground with the line pulled up; QEMU's PL061
	// has no pull-ups (its inputs read low), so qemu-virt says high, or
	// every boot would look like the button held at power-on (the
	// physical officer reset).
	ButtonActiveHigh bool `json:"pairing_button_active_high,omitempty"`
	// Reserved lines must not be driven (QEMU virt's power button is line 3).
	Reserved []int `json:"reserved,omitempty"`
}

// Outputs are the lines the box drives.
func (p PinMap) Outputs() map[string]int {
	return map[string]int{"ir_led": p.IRLED, "status_led": p.StatusLED}
}

// Disk gives the partition sizes of the flashable image (the layout is in
// image/README.md). The data partition is last and grows to the end of
// the disk on first boot; data_mib is only its size in the image.
type Disk struct {
	BootMiB int `json:"boot_mib"`
	// SlotMiB is the size of each of the two firmware slot partitions A
	// and B (Raspberry Pi: autoboot.txt boot_partition=2/3); 0 means the
	// slots are folders on the boot partition (UEFI: systemd-boot reads
	// kernels only from the ESP), which must then hold two of them.
	SlotMiB int `json:"slot_mib,omitempty"`
	DataMiB int `json:"data_mib"`
	// WaitMS is how long init waits for the data partition to appear
	// (SD cards are detected late; virtio disks are there at once) before
	// recording to RAM; default 2000.
	WaitMS int `json:"wait_ms,omitempty"`
}

var (
	namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	shaPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Names lists the boards defined in this folder, sorted.
func Names() []string {
	ents, err := fs.Glob(definitions, "*/board.json")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e, "/board.json"))
	}
	sort.Strings(names)
	return names
}

// Load returns the named board's definition, built into this package.
func Load(name string) (*Board, error) {
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("board %q: not a board name", name)
	}
	b, err := definitions.ReadFile(name + "/board.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("board %q unknown (known: %s)", name, strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("board %q: %w", name, err)
	}
	return Parse(b)
}

// LoadFile reads a board definition from a file (on the box:
// PathOnBox; while building: board/NAME/board.json).
func LoadFile(path string) (*Board, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read board definition: %w", err)
	}
	bd, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return bd, nil
}

// Parse decodes and checks a board definition.
func Parse(data []byte) (*Board, error) {
	var b Board
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("board definition: %w", err)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &b, nil
}

// Validate checks that the definition is complete and consistent.
func (b *Board) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !namePattern.MatchString(b.Name) {
		bad("name %q: lower-case letters, digits and '-' only", b.Name)
	}
	if b.Arch != "arm64" {
		bad("arch %q: only arm64 is supported", b.Arch)
	}
	if !strings.HasPrefix(b.Kernel.Package, "linux-image-") {
		bad("kernel package %q: want linux-image-...", b.Kernel.Package)
	}
	if ok, _ := pathMatch(b.Kernel.Series, b.Kernel.Package); !ok {
		bad("kernel package %q does not match its series %q", b.Kernel.Package, b.Kernel.Series)
	}
	for _, p := range append([]DebPin{b.Kernel.DebPin}, b.BootPackages...) {
		if p.Package == "" || p.Version == "" {
			bad("package pin %+v: package and version are required", p)
		}
		if !shaPattern.MatchString(p.SHA256) {
			bad("package %s: sha256 %q is not 64 lower-case hex digits", p.Package, p.SHA256)
		}
	}
	if len(b.Modules) == 0 {
		bad("no kernel modules listed")
	}
	for m, firsts := range b.LoadAfter {
		for _, n := range append([]string{m}, firsts...) {
			if !slices.Contains(b.Modules, n) {
				bad("load_after names %s, which is not in modules", n)
			}
		}
	}
	switch b.Boot.Method {
	case BootUEFI:
	case BootRPi:
		if b.Boot.ConfigTxt == "" || len(b.Boot.FirmwareFiles) == 0 || len(b.Boot.DTBs) == 0 {
			bad("rpi-firmware boot needs config_txt, firmware_files and dtbs")
		}
		if r := b.Boot.RTC; r != nil {
			if !strings.HasPrefix(r.I2CBus, "/") || r.Compatible == "" || r.Address == 0 || r.Address > 0x7f {
				bad("boot.rtc: want i2c_bus (a node path), compatible and a 7-bit address")
			}
			if !strings.Contains(b.Boot.ConfigTxt, "dtoverlay=matthan-rtc\n") {
				bad("boot.rtc: config_txt must load the overlay (dtoverlay=matthan-rtc)")
			}
		}
	default:
		bad("boot method %q: want %s or %s", b.Boot.Method, BootUEFI, BootRPi)
	}
	if b.Console == "" || strings.Contains(b.Console, "/") {
		bad("console %q: a device name such as ttyAMA0", b.Console)
	}
	if b.Network.Uplink == "" {
		bad("network: uplink interface missing")
	}
	if !b.Network.DHCP {
		if _, err := netip.ParsePrefix(b.Network.Address); err != nil {
			bad("network: static address %q: %v", b.Network.Address, err)
		}
		if b.Network.Gateway != "" {
			if _, err := netip.ParseAddr(b.Network.Gateway); err != nil {
				bad("network: gateway %q: %v", b.Network.Gateway, err)
			}
		}
	}
	if c := b.CameraNetwork; c != nil {
		if c.Interface == "" || c.Interface == b.Network.Uplink {
			bad("camera_network: interface %q must be named and differ from the uplink", c.Interface)
		}
		if p, err := netip.ParsePrefix(c.Address); err != nil || !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Bits() > 25 {
			bad("camera_network: address %q: want a private IPv4 address with a network of at least /25 (64 cameras)", c.Address)
		}
	}
	if b.GPIO.Chip == "" {
		bad("gpio: chip missing")
	}
	lines := map[int]string{}
	for name, l := range map[string]int{"ir_led": b.GPIO.IRLED, "status_led": b.GPIO.StatusLED,
		"light_sensor": b.GPIO.LightSensor, "pairing_button": b.GPIO.PairingButton} {
		if l < 0 {
			bad("gpio %s: line %d is negative", name, l)
		}
		if other, dup := lines[l]; dup {
			bad("gpio: line %d used by both %s and %s", l, other, name)
		}
		lines[l] = name
	}
	for _, r := range b.GPIO.Reserved {
		if name, used := lines[r]; used {
			bad("gpio %s: line %d is reserved", name, r)
		}
	}
	if b.Disk.BootMiB < 64 {
		bad("disk: boot partition %d MiB, FAT32 needs at least 64", b.Disk.BootMiB)
	}
	if b.Disk.SlotMiB != 0 && b.Disk.SlotMiB < 64 {
		bad("disk: slot partitions %d MiB, FAT32 needs at least 64", b.Disk.SlotMiB)
	}
	// init's emptiness check reads the first MiB and the ext backup
	// superblocks up to 128 MiB in: the image must blank all of that.
	if b.Disk.DataMiB < 256 {
		bad("disk: data partition %d MiB in the image, want at least 256 (it grows on first boot)", b.Disk.DataMiB)
	}
	if b.Disk.WaitMS < 0 || b.Disk.WaitMS > 120000 {
		bad("disk: wait_ms %d: want 0..120000", b.Disk.WaitMS)
	}
	if len(errs) > 0 {
		return fmt.Errorf("board %q: %w", b.Name, errors.Join(errs...))
	}
	return nil
}

func pathMatch(glob, name string) (bool, error) {
	if glob == "" {
		return false, nil
	}
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(glob), `\*`, `[0-9]+`) + "$"
	return regexp.MatchString(re, name)
}

// InSeries reports whether a package name belongs to the kernel's series.
func (k KernelPin) InSeries(name string) bool {
	ok, _ := pathMatch(k.Series, name)
	return ok
}

// Raw returns the named board's definition file as written, for copying
// into the initramfs.
func Raw(name string) ([]byte, error) {
	if _, err := Load(name); err != nil {
		return nil, err
	}
	return definitions.ReadFile(name + "/board.json")
}
