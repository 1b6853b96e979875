package slot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Partition numbers of the Pi's slots (image/disk: p2 matthan-a, p3
// matthan-b; p1 holds only autoboot.txt).
var piPartition = map[Slot]int{A: 2, B: 3}

// RPi is the Raspberry Pi 4's tryboot A/B: the EEPROM bootloader reads
// autoboot.txt on partition 1 and boots [all] boot_partition, or, once
// after `reboot "0 tryboot"`, [tryboot] boot_partition. Arm points
// [tryboot] at the new slot; Confirm makes it the [all] one. A reset
// during the trial boots [all] again: the old slot.
type RPi struct {
	// Boot is the mounted partition 1 (autoboot.txt).
	Boot string
	// Slots are the mounted slot partitions (p2, p3).
	Slots map[Slot]string
	// Chosen is the device tree's bootloader node, where the firmware
	// says what it booted: /proc/device-tree/chosen/bootloader
	// (partition: a big-endian u32; tryboot: 1 on a tryboot boot).
	Chosen string
}

// FirstAutoboot is the flashed image's autoboot.txt: slot A boots,
// tryboot would boot B.
var FirstAutoboot = Autoboot{All: 2, Tryboot: 3}

// Autoboot is autoboot.txt: the partition booted normally and the one
// booted once by tryboot.
type Autoboot struct {
	All, Tryboot int
}

// Format returns the file's text.
func (a Autoboot) Format() []byte {
	return []byte(fmt.Sprintf("[all]\ntryboot_a_b=1\nboot_partition=%d\n[tryboot]\nboot_partition=%d\n", a.All, a.Tryboot))
}

// ParseAutoboot reads autoboot.txt (sections [all] and [tryboot],
// boot_partition=N; other lines are kept by nobody and ignored).
func ParseAutoboot(text string) (Autoboot, error) {
	var a Autoboot
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "boot_partition" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 63 {
			return Autoboot{}, fmt.Errorf("autoboot.txt: bad boot_partition %q", v)
		}
		switch section {
		case "[all]", "":
			a.All = n
		case "[tryboot]":
			a.Tryboot = n
		}
	}
	if a.All == 0 {
		return Autoboot{}, errors.New("autoboot.txt: no boot_partition under [all]")
	}
	return a, nil
}

func slotOfPartition(n int) Slot {
	for s, p := range piPartition {
		if p == n {
			return s
		}
	}
	return ""
}

func (r *RPi) autoboot() (Autoboot, error) {
	b, err := os.ReadFile(filepath.Join(r.Boot, "autoboot.txt"))
	if err != nil {
		return Autoboot{}, fmt.Errorf("slot: %w", err)
	}
	return ParseAutoboot(string(b))
}

func readU32(path string) (uint32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(b) != 4 {
		return 0, fmt.Errorf("%s: %d bytes, want 4", path, len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

// Running implements Booter: the partition the firmware booted, a trial
// when it booted by tryboot a partition that is not the [all] one.
func (r *RPi) Running() (Boot, error) {
	part, err := readU32(filepath.Join(r.Chosen, "partition"))
	if err != nil {
		return Boot{}, fmt.Errorf("slot: booted partition: %w", err)
	}
	s := slotOfPartition(int(part))
	if s == "" {
		return Boot{}, fmt.Errorf("slot: booted from partition %d, not a slot", part)
	}
	try, _ := readU32(filepath.Join(r.Chosen, "tryboot")) // absent: no tryboot
	a, err := r.autoboot()
	if err != nil {
		return Boot{}, err
	}
	return Boot{Slot: s, Trial: try == 1 && a.All != int(part)}, nil
}

// Dir implements Booter.
func (r *RPi) Dir(s Slot) string { return r.Slots[s] }

// Prepare implements Booter: a slot is booted only through autoboot.txt,
// which names it under [tryboot] only after Arm.
func (r *RPi) Prepare(s Slot) (string, error) {
	dir, ok := r.Slots[s]
	if !ok {
		return "", fmt.Errorf("slot: no partition mounted for slot %q", s)
	}
	a, err := r.autoboot()
	if err != nil {
		return "", err
	}
	if a.All == piPartition[s] {
		return "", fmt.Errorf("slot: %s is the slot that boots", s)
	}
	return dir, nil
}

// Arm implements Booter.
func (r *RPi) Arm(s Slot, counter uint64) error {
	a, err := r.autoboot()
	if err != nil {
		return err
	}
	if a.All == piPartition[s] {
		return fmt.Errorf("slot: %s already boots", s)
	}
	a.Tryboot = piPartition[s]
	return writeFileSync(filepath.Join(r.Boot, "autoboot.txt"), a.Format())
}

// Confirm implements Booter.
func (r *RPi) Confirm() error {
	b, err := r.Running()
	if err != nil || !b.Trial {
		return err
	}
	a := Autoboot{All: piPartition[b.Slot], Tryboot: piPartition[b.Slot.Other()]}
	return writeFileSync(filepath.Join(r.Boot, "autoboot.txt"), a.Format())
}

// RebootArg implements Booter: the one-shot tryboot flag.
func (r *RPi) RebootArg() string { return "0 tryboot" }
