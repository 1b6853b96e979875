// Package netconf reads and writes the box's uplink setting: a plain text
// file, matthan-network.txt, that a technician may put on the boot
// partition before the first boot (where the commune network has no
// DHCP) and that the admin page writes on the data partition.
//
//	# Mắt Thần: địa chỉ mạng tĩnh / static uplink address
//	address=192.168.1.50/24
//	gateway=192.168.1.1
//	dns=192.168.1.1, 8.8.8.8
//
// "address=dhcp" goes back to DHCP. Lines starting with # or ; are
// comments; spaces around "=", a UTF-8 byte-order mark and Windows line
// ends (Notepad) are accepted. IPv4 only.
//
// Init moves a boot-partition file into the data partition (Resolve), so
// that rewriting the boot partition (a firmware update) cannot lose it:
// after the copy the boot-partition file is renamed to
// matthan-network.txt.applied. The data-partition copy is used from then
// on, until a new matthan-network.txt appears on the boot partition.
package netconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/matthan/matthan/firmware/atomicfile"
)

const (
	// FileName is the file's name on the boot partition and on the data
	// partition alike.
	FileName = "matthan-network.txt"
	// AppliedSuffix is added to the boot-partition file once copied.
	AppliedSuffix = ".applied"
	// MaxSize bounds the file (a few lines are expected).
	MaxSize = 4096
	// MaxDNS is how many name servers the resolver uses (resolv.conf MAXNS).
	MaxDNS = 3
)

// Config is the uplink setting: DHCP, or a static address with an
// optional gateway and name servers.
type Config struct {
	DHCP    bool
	Address netip.Prefix // static: the box's address and prefix length
	Gateway netip.Addr   // zero: none (a network without a router)
	DNS     []netip.Addr
}

// Parse reads the file's text. Errors name the line.
func Parse(b []byte) (Config, error) {
	var c Config
	if len(b) > MaxSize {
		return c, fmt.Errorf("%d bytes: a network file has at most %d", len(b), MaxSize)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, MaxSize), MaxSize)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("line %d: %q: want key=value", n, clip(line))
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if seen[key] && key != "dns" {
			return c, fmt.Errorf("line %d: %s given twice", n, key)
		}
		seen[key] = true
		switch key {
		case "address":
			if strings.EqualFold(val, "dhcp") {
				c.DHCP = true
				continue
			}
			p, err := netip.ParsePrefix(val)
			if err != nil {
				return c, fmt.Errorf("line %d: address %q: want ADDRESS/PREFIX such as 192.168.1.50/24, or dhcp", n, clip(val))
			}
			c.Address = p
		case "gateway":
			a, err := netip.ParseAddr(val)
			if err != nil {
				return c, fmt.Errorf("line %d: gateway %q: not an IPv4 address", n, clip(val))
			}
			c.Gateway = a
		case "dns":
			for _, f := range strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
				a, err := netip.ParseAddr(f)
				if err != nil {
					return c, fmt.Errorf("line %d: dns %q: not an IPv4 address", n, clip(f))
				}
				c.DNS = append(c.DNS, a)
			}
		default:
			return c, fmt.Errorf("line %d: unknown setting %q (known: address, gateway, dns)", n, clip(key))
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("line %d: %w", n+1, err)
	}
	if !seen["address"] {
		return c, errors.New("no address= line (an address such as 192.168.1.50/24, or dhcp)")
	}
	return c, c.Validate()
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Validate checks the setting makes a working uplink.
func (c Config) Validate() error {
	if c.DHCP {
		if c.Address.IsValid() || c.Gateway.IsValid() || len(c.DNS) > 0 {
			return errors.New("dhcp takes no address, gateway or dns")
		}
		return nil
	}
	p := c.Address
	if !p.IsValid() {
		return errors.New("no address")
	}
	a := p.Addr()
	if !a.Is4() {
		return fmt.Errorf("address %s: IPv4 only", p)
	}
	if p.Bits() < 8 || p.Bits() > 32 {
		return fmt.Errorf("address %s: prefix /%d, want /8 to /32", p, p.Bits())
	}
	if !a.IsGlobalUnicast() {
		return fmt.Errorf("address %s: not a usable host address", a)
	}
	if p.Bits() <= 30 {
		if a == p.Masked().Addr() {
			return fmt.Errorf("address %s is the network's own address; pick a host address", p)
		}
		if a == broadcast(p) {
			return fmt.Errorf("address %s is the network's broadcast address; pick a host address", p)
		}
	}
	if g := c.Gateway; g.IsValid() {
		switch {
		case !g.Is4() || !g.IsGlobalUnicast():
			return fmt.Errorf("gateway %s: not a usable IPv4 address", g)
		case g == a:
			return fmt.Errorf("gateway %s is the box's own address", g)
		case !p.Contains(g):
			return fmt.Errorf("gateway %s is outside %s", g, p.Masked())
		}
	}
	if len(c.DNS) > MaxDNS {
		return fmt.Errorf("%d dns servers: at most %d are used", len(c.DNS), MaxDNS)
	}
	for _, d := range c.DNS {
		if !d.Is4() || !d.IsGlobalUnicast() {
			return fmt.Errorf("dns %s: not a usable IPv4 address", d)
		}
	}
	return nil
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// String is the setting on one line, for the console.
func (c Config) String() string {
	if c.DHCP {
		return "dhcp"
	}
	s := c.Address.String()
	if c.Gateway.IsValid() {
		s += " gateway " + c.Gateway.String()
	}
	if len(c.DNS) > 0 {
		s += " dns " + joinAddrs(c.DNS, ",")
	}
	return s
}

func joinAddrs(as []netip.Addr, sep string) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, sep)
}

// Format is the file's text for c (Parse(Format(c)) == c).
func (c Config) Format() []byte {
	var b strings.Builder
	b.WriteString("# Mắt Thần: mạng đường lên / uplink network (" + FileName + ")\n")
	b.WriteString("# address=dhcp, hoặc/or address=ĐỊA-CHỈ/PREFIX, gateway=..., dns=...\n")
	if c.DHCP {
		b.WriteString("address=dhcp\n")
		return []byte(b.String())
	}
	fmt.Fprintf(&b, "address=%s\n", c.Address)
	if c.Gateway.IsValid() {
		fmt.Fprintf(&b, "gateway=%s\n", c.Gateway)
	}
	if len(c.DNS) > 0 {
		fmt.Fprintf(&b, "dns=%s\n", joinAddrs(c.DNS, ", "))
	}
	return []byte(b.String())
}

// Load reads and parses the file at path; found is false when there is
// none.
func Load(path string) (c Config, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return c, true, fmt.Errorf("%s: %w", path, err)
	}
	c, err = Parse(b)
	if err != nil {
		return c, true, fmt.Errorf("%s: %w", path, err)
	}
	return c, true, nil
}

// Save writes c to path so that a power cut leaves the old or the new file.
func Save(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return atomicfile.Write(path, c.Format(), 0o644)
}

// Store is the data-partition file, as the admin page reads and writes it.
type Store struct{ Path string }

// LoadNetwork reads the saved setting (found false: none saved; the
// board's default applies).
func (s Store) LoadNetwork() (Config, bool, error) { return Load(s.Path) }

// SaveNetwork saves c; init applies it at the next boot.
func (s Store) SaveNetwork(c Config) error { return Save(s.Path, c) }

// Source says where Resolve found the setting.
type Source string

const (
	// None: no file anywhere; the board's default applies.
	None Source = ""
	// BootPartition: a new file on the boot partition.
	BootPartition Source = "boot partition"
	// DataPartition: the box's saved setting.
	DataPartition Source = "data partition"
)

// Resolved is what Resolve decided.
type Resolved struct {
	Config Config
	Source Source
	// Moved: the boot-partition file was copied to the data partition
	// and renamed to FileName+AppliedSuffix.
	Moved bool
	// Problems are files that were ignored (unreadable, malformed) and
	// a copy that failed; the box still comes up with what remains.
	Problems []error
}

// Resolve picks the uplink setting: a valid matthan-network.txt on the
// boot partition (bootDir; "" when not mounted) wins and, when the data
// partition is persistent, is copied to dataDir and renamed on the boot
// partition; else the data partition's copy; else none. A malformed boot
// file is left where it is (the technician can read the console and fix
// it) and the data partition's setting applies.
func Resolve(bootDir, dataDir string, persistent bool) Resolved {
	var r Resolved
	dataPath := filepath.Join(dataDir, FileName)
	if bootDir != "" {
		bootPath := filepath.Join(bootDir, FileName)
		c, found, err := Load(bootPath)
		switch {
		case err != nil:
			r.Problems = append(r.Problems, fmt.Errorf("boot partition: %w (ignored)", err))
		case found:
			r.Config, r.Source = c, BootPartition
			if !persistent {
				return r // used this boot, kept for a boot with a data partition
			}
			if err := Save(dataPath, c); err != nil {
				r.Problems = append(r.Problems, fmt.Errorf("copy to the data partition: %w", err))
				return r
			}
			if err := os.Rename(bootPath, bootPath+AppliedSuffix); err != nil {
				r.Problems = append(r.Problems, fmt.Errorf("boot partition: rename after copying: %w", err))
				return r
			}
			syncDir(bootDir)
			r.Moved = true
			return r
		}
	}
	c, found, err := Load(dataPath)
	switch {
	case err != nil:
		r.Problems = append(r.Problems, fmt.Errorf("data partition: %w (ignored)", err))
	case found:
		r.Config, r.Source = c, DataPartition
	}
	return r
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
