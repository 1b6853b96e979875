// Package cmdline reads the box's settings from the kernel command line
// (/proc/cmdline): the matthan.* parameters that tests, `make run` and the
// boot loader entry pass to init.
//
//	matthan.camera=NAME=rtsp://...   a camera for the daemon (repeatable)
//	matthan.ip=ADDR/LEN,GATEWAY      static uplink address (or "dhcp")
//	matthan.data=PARTLABEL           the data partition's GPT name
//	matthan.selftest=1               run the technician self-test after boot
//	matthan.debug=1                  verbose init (and a shell, when the image has one)
//	matthan.listen=:8080             the daemon's admin address
//	matthan.test.growcut=PHASE       tests: stop before a data partition grow phase
//	                                 (backup, primary, kernel, format, resize) so the
//	                                 power can be cut there
package cmdline

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Settings are the matthan.* parameters.
type Settings struct {
	Cameras  []Camera
	IP       string // "", "dhcp" or "ADDR/LEN[,GATEWAY]"
	DataPart string
	Listen   string
	SelfTest bool
	Debug    bool
	// NTP is the uplink's NTP servers (matthan.ntp=HOST[:PORT],...), for
	// the daemon's -ntp; empty: its defaults.
	NTP string
	// NoRTC: init ignores the RTC (matthan.rtc=off; the QEMU tests, whose
	// virt machine always has one, boot as a Pi without one would).
	NoRTC bool
	// GrowCut is a grow phase init stops before (tests cut the power).
	GrowCut string
	// Unknown lists matthan.* parameters init did not understand.
	Unknown []string
}

// Camera is one camera given on the command line.
type Camera struct {
	Name string
	URL  string
}

// Flag is the daemon's -camera value for this camera.
func (c Camera) Flag() string { return c.Name + "=" + c.URL }

// Parse reads a kernel command line. Parameters of other programs are
// ignored; malformed matthan.* ones are returned as errors, one per bad
// parameter, and the rest still apply.
func Parse(line string) (Settings, []error) {
	var s Settings
	var errs []error
	for _, field := range splitFields(line) {
		key, val, _ := strings.Cut(field, "=")
		if !strings.HasPrefix(key, "matthan.") {
			continue
		}
		switch key {
		case "matthan.camera":
			name, url, ok := strings.Cut(val, "=")
			if !ok || !validName(name) || !strings.HasPrefix(url, "rtsp://") || len(url) <= len("rtsp://") {
				errs = append(errs, fmt.Errorf("matthan.camera=%q: want NAME=rtsp://HOST/PATH", val))
				continue
			}
			s.Cameras = append(s.Cameras, Camera{Name: name, URL: url})
		case "matthan.ip":
			if err := checkIP(val); err != nil {
				errs = append(errs, fmt.Errorf("matthan.ip=%q: %w", val, err))
				continue
			}
			s.IP = val
		case "matthan.data":
			if !validName(val) {
				errs = append(errs, fmt.Errorf("matthan.data=%q: want a partition name", val))
				continue
			}
			s.DataPart = val
		case "matthan.listen":
			if _, port, err := net.SplitHostPort(val); err != nil || port == "" || strings.Trim(port, "0123456789") != "" {
				errs = append(errs, fmt.Errorf("matthan.listen=%q: want :PORT or ADDR:PORT", val))
				continue
			}
			s.Listen = val
		case "matthan.ntp":
			if val == "" || len(val) > 512 || strings.ContainsAny(val, " \"'") {
				errs = append(errs, fmt.Errorf("matthan.ntp=%q: want HOST[:PORT] separated by commas, or off", val))
				continue
			}
			s.NTP = val
		case "matthan.rtc":
			switch val {
			case "off":
				s.NoRTC = true
			case "on", "":
			default:
				errs = append(errs, fmt.Errorf("matthan.rtc=%q: want on or off", val))
			}
		case "matthan.selftest":
			s.SelfTest = truthy(val)
		case "matthan.debug":
			s.Debug = truthy(val)
		case "matthan.test.growcut":
			switch val {
			case "backup", "primary", "kernel", "format", "resize":
				s.GrowCut = val
			default:
				errs = append(errs, fmt.Errorf("matthan.test.growcut=%q: want backup, primary, kernel, format or resize", val))
			}
		default:
			s.Unknown = append(s.Unknown, key)
		}
	}
	return s, errs
}

// splitFields splits on spaces, keeping double-quoted values together
// (the kernel's own rule).
func splitFields(line string) []string {
	var fields []string
	var cur strings.Builder
	quoted := false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if cur.Len() > 0 {
				fields = append(fields, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		fields = append(fields, cur.String())
	}
	return fields
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func truthy(v string) bool { return v == "" || v == "1" || v == "yes" || v == "on" || v == "true" }

func checkIP(v string) error {
	if v == "dhcp" {
		return nil
	}
	addr, gw, hasGW := strings.Cut(v, ",")
	if _, err := netip.ParsePrefix(addr); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	if hasGW {
		if _, err := netip.ParseAddr(gw); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	return nil
}
