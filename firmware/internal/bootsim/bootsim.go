// Package bootsim simulates the boot loaders of firmware/slot for tests:
// systemd-boot's entry choice and boot counting on an ESP folder, and the
// Raspberry Pi firmware's tryboot. Test tooling: nothing shipped imports it.
package bootsim

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/matthan/matthan/firmware/slot"
)

var entryName = regexp.MustCompile(`^matthan-([ab])(?:\+([0-9]+)(?:-([0-9]+))?)?\.conf$`)

// SystemdBoot does what systemd-boot 252 does with the ESP's matthan-*
// entries: order them (no tries left last, then sort-key, then version
// highest first), take the first, count a try by renaming +LEFT[-DONE] to
// +LEFT-1-DONE+1, and return the entry's kernel command line.
func SystemdBoot(esp string) (string, error) {
	dir := filepath.Join(esp, "loader", "entries")
	des, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	type ent struct {
		name       string
		version    int
		left, done int
		counted    bool
		options    string
	}
	var es []ent
	for _, de := range des {
		m := entryName.FindStringSubmatch(de.Name())
		if m == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			return "", err
		}
		e := ent{name: de.Name(), counted: m[2] != ""}
		e.left, _ = strconv.Atoi(m[2])
		e.done, _ = strconv.Atoi(m[3])
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, " ")
			switch k {
			case "version":
				e.version, _ = strconv.Atoi(v)
			case "options":
				e.options = v
			}
		}
		es = append(es, e)
	}
	sort.SliceStable(es, func(i, j int) bool {
		bi, bj := es[i].counted && es[i].left == 0, es[j].counted && es[j].left == 0
		if bi != bj {
			return !bi
		}
		return es[i].version > es[j].version
	})
	if len(es) == 0 {
		return "", fmt.Errorf("no entry to boot in %s", dir)
	}
	e := es[0]
	if e.counted && e.left > 0 {
		base := strings.SplitN(e.name, "+", 2)[0]
		next := fmt.Sprintf("%s+%d-%d.conf", base, e.left-1, e.done+1)
		if err := os.Rename(filepath.Join(dir, e.name), filepath.Join(dir, next)); err != nil {
			return "", err
		}
	}
	return e.options, nil
}

// Pi is the Raspberry Pi firmware: it boots autoboot.txt's [all]
// partition, or [tryboot] once after a tryboot reboot, and says so in the
// device tree's chosen/bootloader node.
type Pi struct {
	R   *slot.RPi
	Try bool // the next boot is a tryboot (reboot "0 tryboot")
}

// Boot boots once.
func (p *Pi) Boot() error {
	b, err := os.ReadFile(filepath.Join(p.R.Boot, "autoboot.txt"))
	if err != nil {
		return err
	}
	a, err := slot.ParseAutoboot(string(b))
	if err != nil {
		return err
	}
	part, try := a.All, uint32(0)
	if p.Try {
		part, try = a.Tryboot, 1
	}
	p.Try = false
	for name, v := range map[string]uint32{"partition": uint32(part), "tryboot": try} {
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, v)
		if err := os.WriteFile(filepath.Join(p.R.Chosen, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
