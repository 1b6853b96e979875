// Package disks finds the USB disks attached to the box, says what they
// hold and how healthy they are, and prepares one as the recording disk:
// a GPT with one partition named matthan-rec, an ext4 file system labelled
// matthan-rec, mounted. It never formats a disk on its own: a disk that
// already holds a matthan-rec file system is adopted as it is; any other
// disk is only shown until a technician confirms it on the page (Confirm).
//
// Everything comes from sysfs (/sys/block), /proc/self/mountinfo and the
// first bytes of the devices: no udev, no smartctl in the image. Health is
// the SCSI device's state and I/O error count from sysfs, and the drive's
// own SMART verdict where the USB bridge passes ATA commands (SAT, smart.go).
package disks

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/matthan/matthan/firmware/datapart"
)

// PartName is the GPT partition name and the ext4 label of a recording disk.
const PartName = "matthan-rec"

// Content says what a disk holds.
type Content string

// Contents of a disk.
const (
	Recording Content = "recording" // a matthan-rec ext4 partition: adopted without asking
	Blank     Content = "blank"     // no partitions and its first MiB all zeros
	Other     Content = "other"     // anything else: touched only after a confirm
	Unknown   Content = "unknown"   // unreadable
)

// Disk is one USB block device.
type Disk struct {
	Name string `json:"name"` // sda
	Dev  string `json:"dev"`  // /dev/sda
	// ID names this disk for Confirm: name, serial and size, so that a
	// confirm made on a page showing another disk under the same name fails.
	ID         string      `json:"id"`
	Vendor     string      `json:"vendor,omitempty"`
	Model      string      `json:"model,omitempty"`
	Serial     string      `json:"serial,omitempty"`
	SizeBytes  int64       `json:"sizeBytes"`
	SectorSize int         `json:"sectorSize"`
	USBSpeed   string      `json:"usbSpeed,omitempty"` // Mbit/s as the kernel says: 480, 5000…
	ReadOnly   bool        `json:"readOnly,omitempty"`
	Partitions []Partition `json:"partitions,omitempty"`
	Content    Content     `json:"content"`
	// InUse is where a partition of this disk is mounted ("" if none).
	InUse  string `json:"inUse,omitempty"`
	Health Health `json:"health"`
	// Problem says why the disk could not be read or used.
	Problem string `json:"problem,omitempty"`

	ioErrFile string // sysfs ioerr_cnt
}

// Partition is one partition of a Disk.
type Partition struct {
	Name      string `json:"name"` // sda1
	Dev       string `json:"dev"`
	Number    int    `json:"number"`
	Label     string `json:"label,omitempty"` // GPT partition name
	SizeBytes int64  `json:"sizeBytes"`
	FS        string `json:"fs,omitempty"` // ext4 when found
	devNum    string // major:minor
}

// Health is what the box can tell of a disk's health.
type Health struct {
	// State is the SCSI device's state: running, offline, blocked…
	State string `json:"state,omitempty"`
	// IOErrors is the device's I/O error count (Scan: since the kernel
	// attached it; Manager.Status: since the box first saw it, the
	// errors of the kernel's own probing and of the SMART questions left
	// out).
	IOErrors int64 `json:"ioErrors"`
	// SMART is "passed" or "failing" (the drive's verdict) or "unavailable"
	// (the USB bridge does not pass ATA commands, or not asked yet).
	SMART string `json:"smart"`
}

// OK reports whether nothing is known to be wrong.
func (h Health) OK() bool {
	return (h.State == "" || h.State == "running") && h.IOErrors == 0 && h.SMART != "failing"
}

// Sys says where the kernel's views are; tests point it at testdata.
type Sys struct {
	Block     string // /sys/block
	Dev       string // /dev
	MountInfo string // /proc/self/mountinfo
}

// Host is the running system.
var Host = Sys{Block: "/sys/block", Dev: "/dev", MountInfo: "/proc/self/mountinfo"}

// Scan lists the USB disks, sorted by name. A disk that cannot be read is
// listed with its Problem.
func Scan(sys Sys) ([]Disk, error) {
	ents, err := os.ReadDir(sys.Block)
	if err != nil {
		return nil, fmt.Errorf("disks: list %s: %w", sys.Block, err)
	}
	mounts, err := readMounts(sys.MountInfo)
	if err != nil {
		return nil, err
	}
	var out []Disk
	root, err := filepath.EvalSymlinks(filepath.Dir(sys.Block))
	if err != nil {
		return nil, fmt.Errorf("disks: %w", err)
	}
	for _, e := range ents {
		d, ok := scanOne(sys, root, e.Name(), mounts, true)
		if ok {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// scanOne reads one block device; with usbOnly, a device not on a USB bus
// (the SD card, a virtio disk, a loop device) is left out.
func scanOne(sys Sys, root, name string, mounts map[string]string, usbOnly bool) (Disk, bool) {
	base := filepath.Join(sys.Block, name)
	real, err := filepath.EvalSymlinks(base)
	if err != nil {
		return Disk{}, false
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || usbOnly && !onUSB(rel) {
		return Disk{}, false
	}
	d := Disk{Name: name, Dev: filepath.Join(sys.Dev, name), SectorSize: 512}
	d.SizeBytes = readInt(filepath.Join(base, "size")) * 512 // always 512-byte units
	if ss := readInt(filepath.Join(base, "queue", "logical_block_size")); ss > 0 {
		d.SectorSize = int(ss)
	}
	d.ReadOnly = readInt(filepath.Join(base, "ro")) == 1
	d.Vendor = readText(filepath.Join(base, "device", "vendor"))
	d.Model = readText(filepath.Join(base, "device", "model"))
	d.Health.State = readText(filepath.Join(base, "device", "state"))
	d.ioErrFile = filepath.Join(base, "device", "ioerr_cnt")
	d.Health.IOErrors = readIOErrors(d.ioErrFile)
	d.Health.SMART = "unavailable"
	// The USB device is the nearest folder above with an idVendor.
	for dir := filepath.Dir(real); len(dir) > len(root) && dir != "/"; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "idVendor")); err == nil {
			d.Serial = readText(filepath.Join(dir, "serial"))
			d.USBSpeed = readText(filepath.Join(dir, "speed"))
			if d.Model == "" {
				d.Model = readText(filepath.Join(dir, "product"))
			}
			if d.Vendor == "" {
				d.Vendor = readText(filepath.Join(dir, "manufacturer"))
			}
			break
		}
	}
	d.ID = fmt.Sprintf("%s:%s:%d", name, d.Serial, d.SizeBytes)
	if mp := mounts[readText(filepath.Join(base, "dev"))]; mp != "" {
		d.InUse = mp
	}
	parts, _ := os.ReadDir(base)
	for _, p := range parts {
		pb := filepath.Join(base, p.Name())
		num := readInt(filepath.Join(pb, "partition"))
		if num <= 0 {
			continue
		}
		part := Partition{Name: p.Name(), Dev: filepath.Join(sys.Dev, p.Name()), Number: int(num),
			SizeBytes: readInt(filepath.Join(pb, "size")) * 512, devNum: readText(filepath.Join(pb, "dev"))}
		part.Label = ueventValue(filepath.Join(pb, "uevent"), "PARTNAME")
		if mp := mounts[part.devNum]; mp != "" && d.InUse == "" {
			d.InUse = mp
		}
		if isExt4(part.Dev) {
			part.FS = "ext4"
		}
		d.Partitions = append(d.Partitions, part)
	}
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Number < d.Partitions[j].Number })
	d.Content = Other
	if RecordingPartition(d) != nil {
		d.Content = Recording
	} else if len(d.Partitions) == 0 {
		k, err := probe(d.Dev, d.SizeBytes)
		switch {
		case err != nil:
			d.Content, d.Problem = Unknown, err.Error()
		case k == datapart.Empty:
			d.Content = Blank
		}
	}
	return d, true
}

// onUSB reports whether a sysfs device path goes through a USB bus
// (devices/…/usb2/2-1/…).
func onUSB(devPath string) bool {
	for _, el := range strings.Split(filepath.ToSlash(devPath), "/") {
		if n, ok := strings.CutPrefix(el, "usb"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			return true
		}
	}
	return false
}

// RecordingPartition is d's matthan-rec ext4 partition, nil if it has none.
func RecordingPartition(d Disk) *Partition {
	for i, p := range d.Partitions {
		if p.Label == PartName && p.FS == "ext4" {
			return &d.Partitions[i]
		}
	}
	return nil
}

// isExt4 reads the superblock's magic only (Scan runs every 2 s: no more
// than that is read of a disk being recorded to).
func isExt4(dev string) bool {
	f, err := os.Open(dev)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [2]byte
	if _, err := f.ReadAt(b[:], 1024+56); err != nil {
		return false
	}
	return b[0] == 0x53 && b[1] == 0xEF
}

// probe reads what a device (or partition) holds.
func probe(dev string, size int64) (datapart.Kind, error) {
	f, err := os.Open(dev)
	if err != nil {
		return datapart.Other, err
	}
	defer f.Close()
	if size <= 0 {
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			return datapart.Other, err
		}
	}
	return datapart.Probe(f, size)
}

// readMounts maps major:minor to the mount point, from mountinfo.
func readMounts(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("disks: read %s: %w", path, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, " ") // the kernel separates by one space and escapes spaces in paths
		if len(f) < 5 {
			continue
		}
		if _, ok := m[f[2]]; !ok {
			m[f[2]] = unescapeMount(f[4])
		}
	}
	return m, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readIOErrors reads a SCSI device's ioerr_cnt (hexadecimal).
func readIOErrors(path string) int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(readText(path), "0x"), 16, 64)
	return n
}

func readText(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readInt(path string) int64 {
	n, err := strconv.ParseInt(readText(path), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func ueventValue(path, key string) string {
	for _, line := range strings.Split(readText(path), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// ErrNotFound is returned by Confirm for a disk that is not attached (any more).
var ErrNotFound = errors.New("disks: no such disk")
