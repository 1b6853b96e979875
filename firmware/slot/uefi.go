package slot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// UEFI is systemd-boot's boot counting on the ESP. Slot s keeps its
// files in matthan/s/ (vmlinuz, initrd.cpio, cmdline.txt) and boots from
// loader/entries/matthan-s[+LEFT[-DONE]].conf. Every entry has
// "sort-key matthan" and "version COUNTER", and loader.conf says
// "default matthan-*": the loader boots the highest counter whose tries
// are not used up. A trial entry is written as matthan-s+TRIES.conf; the
// loader renames it +LEFT-DONE on each try, and after TRIES failed tries
// it sorts last and the old slot boots again. Confirm blesses the entry by
// renaming it matthan-s.conf.
type UEFI struct {
	ESP string // the mounted boot partition
	// Cmdline is the running kernel's command line: matthan.slot=s
	// (written by EntryFor) names the slot that booted.
	Cmdline string
	// Tries is the number of trial boots (default 3; tests use 1).
	Tries int
}

var entryName = regexp.MustCompile(`^matthan-([ab])(?:\+([0-9]+)(?:-([0-9]+))?)?\.conf$`)

// EntryFor is slot s's loader entry with the slot's kernel command line
// (from its cmdline.txt) and counter as version.
func EntryFor(s Slot, counter uint64, cmdline string) []byte {
	return []byte(fmt.Sprintf("title Mat Than (%s)\nsort-key matthan\nversion %d\nlinux /matthan/%s/vmlinuz\ninitrd /matthan/%s/initrd.cpio\noptions %s matthan.slot=%s\n",
		strings.ToUpper(string(s)), counter, s, s, strings.TrimSpace(cmdline), s))
}

// SlotFromCmdline returns the matthan.slot= of a kernel command line.
func SlotFromCmdline(cmdline string) Slot {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "matthan.slot="); ok && Slot(v).Valid() {
			return Slot(v)
		}
	}
	return ""
}

func (u *UEFI) entries() string { return filepath.Join(u.ESP, "loader", "entries") }

// entry is one loader entry file of a slot.
type entry struct {
	name    string
	slot    Slot
	counted bool // has +LEFT
	left    int
}

func (u *UEFI) list() ([]entry, error) {
	des, err := os.ReadDir(u.entries())
	if err != nil {
		return nil, fmt.Errorf("slot: %w", err)
	}
	var es []entry
	for _, de := range des {
		m := entryName.FindStringSubmatch(de.Name())
		if m == nil {
			continue
		}
		e := entry{name: de.Name(), slot: Slot(m[1]), counted: m[2] != ""}
		if e.counted {
			e.left, _ = strconv.Atoi(m[2])
		}
		es = append(es, e)
	}
	return es, nil
}

// Running implements Booter.
func (u *UEFI) Running() (Boot, error) {
	s := SlotFromCmdline(u.Cmdline)
	if s == "" {
		return Boot{}, errors.New("slot: no matthan.slot= on the kernel command line")
	}
	es, err := u.list()
	if err != nil {
		return Boot{}, err
	}
	for _, e := range es {
		if e.slot == s {
			return Boot{Slot: s, Trial: e.counted}, nil
		}
	}
	return Boot{}, fmt.Errorf("slot: no loader entry for the running slot %s", s)
}

// Dir implements Booter.
func (u *UEFI) Dir(s Slot) string { return filepath.Join(u.ESP, "matthan", string(s)) }

// Prepare implements Booter: it removes slot s's entries first.
func (u *UEFI) Prepare(s Slot) (string, error) {
	if !s.Valid() {
		return "", fmt.Errorf("slot: bad slot %q", s)
	}
	es, err := u.list()
	if err != nil {
		return "", err
	}
	for _, e := range es {
		if e.slot == s {
			if err := os.Remove(filepath.Join(u.entries(), e.name)); err != nil {
				return "", fmt.Errorf("slot: %w", err)
			}
		}
	}
	if err := SyncDir(u.entries()); err != nil {
		return "", err
	}
	dir := u.Dir(s)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("slot: %w", err)
	}
	return dir, nil
}

// Arm implements Booter.
func (u *UEFI) Arm(s Slot, counter uint64) error {
	cl, err := os.ReadFile(filepath.Join(u.ESP, "matthan", string(s), "cmdline.txt"))
	if err != nil {
		return fmt.Errorf("slot %s: %w", s, err)
	}
	tries := u.Tries
	if tries <= 0 {
		tries = 3
	}
	path := filepath.Join(u.entries(), fmt.Sprintf("matthan-%s+%d.conf", s, tries))
	if err := writeFileSync(path, EntryFor(s, counter, string(cl))); err != nil {
		return fmt.Errorf("slot: arm %s: %w", s, err)
	}
	return nil
}

// Confirm implements Booter.
func (u *UEFI) Confirm() error {
	b, err := u.Running()
	if err != nil {
		return err
	}
	if !b.Trial {
		return nil
	}
	es, err := u.list()
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.slot == b.Slot && e.counted {
			final := filepath.Join(u.entries(), fmt.Sprintf("matthan-%s.conf", b.Slot))
			if err := os.Rename(filepath.Join(u.entries(), e.name), final); err != nil {
				return fmt.Errorf("slot: confirm %s: %w", b.Slot, err)
			}
		}
	}
	return SyncDir(u.entries())
}

// RebootArg implements Booter.
func (u *UEFI) RebootArg() string { return "" }

// TriesLeft returns the tries left of slot s's counted entry, and whether
// it has one (a trial armed or under way; 0 left means the loader gave up).
func (u *UEFI) TriesLeft(s Slot) (int, bool, error) {
	es, err := u.list()
	if err != nil {
		return 0, false, err
	}
	for _, e := range es {
		if e.slot == s && e.counted {
			return e.left, true, nil
		}
	}
	return 0, false, nil
}
