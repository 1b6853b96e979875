// Package fence keeps the camera network shut off from the box and the
// uplink: forwarding off (IPv4 and IPv6, checked by reading it back), and
// an nf_tables table, installed from Go, that drops everything arriving on
// the camera interface except DHCP (server port, and the client port where the box watches
// for another server's offers) and NTP to the box, WS-Discovery
// (Hello to port 3702, and probe matches coming back from a camera's port
// 3702), and the replies to connections the box opened itself (ONVIF,
// RTSP: conntrack's established/related). Nothing is forwarded to or from
// the camera interface. Old camera firmware is a known botnet target.
//
// Binding every listener to the interface it serves is the first wall
// (the admin page listens on the uplink only); the table is the second,
// for whatever listens on all interfaces.
package fence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is the nf_tables table (family inet) the fence owns.
const TableName = "matthan_camnet"

// Ports open to the cameras (UDP, to the box).
const (
	PortDHCP        = 67
	PortDHCPClient  = 68 // another server's offers, seen by the box's watcher
	PortNTP         = 123
	PortWSDiscovery = 3702
)

// Install replaces the fence's table with the rules for iface. The
// kernel needs nf_tables and nft_ct (board.json modules).
func Install(iface string) error {
	if iface == "" || len(iface) >= unix.IFNAMSIZ {
		return fmt.Errorf("camera interface %q: not an interface name", iface)
	}
	c, t, err := clearBatch()
	if err != nil {
		return err
	}
	// The new table follows the delete in the same batch: one atomic
	// replacement.
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	in := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})

	rule := func(ch *nftables.Chain, e ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e})
	}
	fromCam := ifname(expr.MetaKeyIIFNAME, iface)
	verdict := func(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

	// Replies to what the box opened (ONVIF, RTSP, NTP client none).
	rule(in, append(fromCam, &expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: le32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: le32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: le32(0)},
		verdict(expr.VerdictAccept))...)
	for _, p := range []uint16{PortDHCP, PortDHCPClient, PortNTP, PortWSDiscovery} {
		rule(in, append(append(fromCam, udpPort(2, p)...), verdict(expr.VerdictAccept))...)
	}
	// WS-Discovery ProbeMatches: unicast from the camera's port 3702 to
	// the port the box's multicast probe left from (conntrack does not
	// tie a unicast answer to a multicast question).
	rule(in, append(append(fromCam, udpPort(0, PortWSDiscovery)...), verdict(expr.VerdictAccept))...)
	rule(in, append(fromCam, &expr.Counter{}, verdict(expr.VerdictDrop))...)

	rule(fwd, append(fromCam, &expr.Counter{}, verdict(expr.VerdictDrop))...)
	rule(fwd, append(ifname(expr.MetaKeyOIFNAME, iface), &expr.Counter{}, verdict(expr.VerdictDrop))...)

	if err := c.Flush(); err != nil {
		return fmt.Errorf("nf_tables rules on %s: %w", iface, err)
	}
	return nil
}

// Remove deletes the fence's table (tests, and a box whose camera
// interface goes away).
func Remove() error {
	c, _, err := clearBatch()
	if err != nil {
		return err
	}
	return c.Flush()
}

// clearBatch starts a batch that deletes the fence's table (adding it first
// makes the delete succeed when it is absent).
func clearBatch() (*nftables.Conn, *nftables.Table, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, nil, fmt.Errorf("nf_tables: %w", err)
	}
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	return c, t, nil
}

// Check reads the table back: it exists with its two chains, the input
// chain ends in a drop.
func Check() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nf_tables: %w", err)
	}
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	for _, name := range []string{"input", "forward"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if err != nil {
			return fmt.Errorf("camera network fence: chain %s: %w", name, err)
		}
		if len(rules) == 0 {
			return fmt.Errorf("camera network fence: chain %s is empty", name)
		}
		last := rules[len(rules)-1].Exprs
		v, ok := last[len(last)-1].(*expr.Verdict)
		if !ok || v.Kind != expr.VerdictDrop {
			return fmt.Errorf("camera network fence: chain %s does not end in a drop", name)
		}
	}
	return nil
}

// ProcSys is the sysctl tree (tests point it elsewhere).
var ProcSys = "/proc/sys"

// ForwardingOff turns IP forwarding off (IPv4 globally, IPv6 on every
// interface) and reads it back.
func ForwardingOff() error {
	var errs []error
	for _, p := range []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding"} {
		path := filepath.Join(ProcSys, p)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && strings.Contains(p, "ipv6") {
			continue // no IPv6 in this kernel
		}
		if err := os.WriteFile(path, []byte("0\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("forwarding off (%s): %w", p, err))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(b)) != "0" {
			errs = append(errs, fmt.Errorf("forwarding still on (%s = %q): %v", p, strings.TrimSpace(string(b)), err))
		}
	}
	return errors.Join(errs...)
}

// ifname matches the input or output interface name.
func ifname(key expr.MetaKey, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
	}
}

// udpPort matches UDP with the port at offset off of the header (0
// source, 2 destination).
func udpPort(off uint32, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
	}
}

func le32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
