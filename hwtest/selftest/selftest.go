// Package selftest is the technician's hardware self-test on the box:
// GPIO lines of the board's pin map driven through periph.io and read
// back both through periph.io and through the kernel's own view
// (debugfs), plus the data partition, the network, the RTC, the watchdog,
// the daemon's API and the fingerprint of the box key that signs evidence
// exports (for the handover record). Each check prints one PASS/FAIL line.
package selftest

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Result is one check's outcome.
type Result struct {
	Name   string
	OK     bool
	Detail string
}

func (r Result) String() string {
	verdict := "PASS"
	if !r.OK {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s %-22s %s", verdict, r.Name, r.Detail)
}

// KernelLine is one GPIO line as /sys/kernel/debug/gpio shows it.
type KernelLine struct {
	Offset   int
	Consumer string
	Output   bool
	High     bool
}

var (
	chipHeader = regexp.MustCompile(`^gpiochip\d+: GPIOs (\d+)-(\d+), parent: [^,]*, ([^:]+):`)
	lineEntry  = regexp.MustCompile(`^\s*gpio-(\d+)\s+\(([^|]*)\|([^)]*)\)\s+(in|out)\s+(hi|lo)`)
)

// ParseDebugGPIO reads the kernel's /sys/kernel/debug/gpio and returns
// the requested lines of the chip with the given label, by offset.
func ParseDebugGPIO(r io.Reader, label string) (map[int]KernelLine, error) {
	sc := bufio.NewScanner(r)
	lines := map[int]KernelLine{}
	base, inChip, found := 0, false, false
	for sc.Scan() {
		text := sc.Text()
		if m := chipHeader.FindStringSubmatch(text); m != nil {
			inChip = strings.TrimSpace(m[3]) == label
			if inChip {
				found = true
				base, _ = strconv.Atoi(m[1])
			}
			continue
		}
		if !inChip {
			continue
		}
		m := lineEntry.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		off := n - base
		lines[off] = KernelLine{Offset: off, Consumer: strings.TrimSpace(m[3]), Output: m[4] == "out", High: m[5] == "hi"}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no GPIO chip labelled %q in the kernel's list", label)
	}
	return lines, nil
}
