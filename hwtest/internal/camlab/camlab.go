// Package camlab builds a camera network out of Linux network namespaces
// for tests (root only): the box's namespace with its camera interface and
// its uplink, a switch namespace holding a bridge, one namespace per
// simulated camera plugged into the switch, and a "wan" namespace at the
// far end of the uplink standing for the commune's network and the
// internet. Every namespace and interface name starts with "cnet-" and a
// per-lab id; the lab removes them all at the end of the test.
//
//	wan (10.99.0.2) ── uplink ── box (10.99.0.1 | cnet-cam 10.77.0.1/24) ── switch (bridge) ── camera 1..N
package camlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/testenv"
)

// Addresses of the lab.
const (
	BoxCamIf   = "cnet-cam" // the box's camera interface
	BoxCamAddr = "10.77.0.1/24"
	BoxUplink  = "10.99.0.1"
	WANAddr    = "10.99.0.2"
	CamIf      = "cnet-eth0" // a camera's interface, in its namespace
)

// Lab is a running set of namespaces.
type Lab struct {
	ID               string
	Box, Switch, WAN string // namespace names
	t                testing.TB
	cams             []*Camera
	bridge           string
	namespaces       []string
}

// Camera is one camera's namespace, plugged into the switch.
type Camera struct {
	Name, NS string
	port     string // its switch port (in the switch namespace)
	lab      *Lab
}

// NeedRoot skips (fails with MATTHAN_REQUIRE_TOOLS=1 only when a tool is
// missing, never for not being root) unless the test runs as root with
// ip(8).
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("camera network tests need root (network namespaces, DHCP on raw sockets, nf_tables): run as root, as CI does")
	}
	testenv.LookTool(t, "ip", "iproute2")
}

// New builds the box, switch and wan namespaces.
func New(t testing.TB) *Lab {
	t.Helper()
	NeedRoot(t)
	b := make([]byte, 2)
	rand.Read(b)
	id := hex.EncodeToString(b)
	l := &Lab{ID: id, t: t, Box: "cnet-" + id + "-box", Switch: "cnet-" + id + "-sw", WAN: "cnet-" + id + "-wan", bridge: "cnet-br"}
	t.Cleanup(l.Close)
	for _, ns := range []string{l.Box, l.Switch, l.WAN} {
		l.addNS(ns)
	}
	// Switch: a bridge, up.
	l.ip(l.Switch, "link", "add", l.bridge, "type", "bridge")
	l.ip(l.Switch, "link", "set", l.bridge, "up")
	// The box's camera interface: a veth whose other end is a switch port.
	port := "cnet-p" + id + "b"
	l.ip(l.Box, "link", "add", BoxCamIf, "type", "veth", "peer", "name", port, "netns", l.Switch)
	l.ip(l.Switch, "link", "set", port, "master", l.bridge, "up")
	l.ip(l.Box, "addr", "add", BoxCamAddr, "dev", BoxCamIf)
	l.ip(l.Box, "link", "set", BoxCamIf, "up")
	// The uplink.
	l.ip(l.Box, "link", "add", "cnet-up", "type", "veth", "peer", "name", "cnet-wan", "netns", l.WAN)
	l.ip(l.Box, "addr", "add", BoxUplink+"/24", "dev", "cnet-up")
	l.ip(l.Box, "link", "set", "cnet-up", "up")
	l.ip(l.WAN, "addr", "add", WANAddr+"/24", "dev", "cnet-wan")
	l.ip(l.WAN, "link", "set", "cnet-wan", "up")
	for _, ns := range []string{l.Box, l.Switch, l.WAN} {
		l.ip(ns, "link", "set", "lo", "up")
	}
	// The box routes to the internet through the wan.
	l.ip(l.Box, "route", "add", "default", "via", WANAddr)
	return l
}

// AddCamera makes a camera namespace and plugs it in (link up; it has no
// address until it asks by DHCP).
func (l *Lab) AddCamera(name string) *Camera {
	l.t.Helper()
	n := len(l.cams) + 1
	c := &Camera{Name: name, NS: fmt.Sprintf("cnet-%s-c%d", l.ID, n), port: fmt.Sprintf("cnet-p%s-%d", l.ID, n), lab: l}
	l.addNS(c.NS)
	l.ip(c.NS, "link", "set", "lo", "up")
	l.ip(c.NS, "link", "add", CamIf, "type", "veth", "peer", "name", c.port, "netns", l.Switch)
	l.ip(l.Switch, "link", "set", c.port, "master", l.bridge, "up")
	l.ip(c.NS, "link", "set", CamIf, "up")
	l.cams = append(l.cams, c)
	return c
}

// Unplug takes the camera's cable out (its switch port down); Plug puts
// it back.
func (c *Camera) Unplug() { c.lab.ip(c.lab.Switch, "link", "set", c.port, "down") }
func (c *Camera) Plug()   { c.lab.ip(c.lab.Switch, "link", "set", c.port, "up") }

// Command runs a program in namespace ns.
func (l *Lab) Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Command runs a program in the camera's namespace.
func (c *Camera) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return c.lab.Command(ctx, c.NS, name, args...)
}

// Run runs ip(8) or any program in ns and returns its output; failure
// fails the test.
func (l *Lab) Run(ns string, name string, args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.Command(ctx, ns, name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s in %s: %s %v: %v\n%s", name, ns, name, args, err, out)
	}
	return string(out)
}

func (l *Lab) ip(ns string, args ...string) {
	l.t.Helper()
	l.Run(ns, "ip", args...)
}

func (l *Lab) addNS(ns string) {
	l.t.Helper()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		l.t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
	}
	l.namespaces = append(l.namespaces, ns)
}

// Close deletes every namespace (their interfaces go with them).
func (l *Lab) Close() {
	for i := len(l.namespaces) - 1; i >= 0; i-- {
		ns := l.namespaces[i]
		// Kill what still runs there, then delete it.
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, p := range strings.Fields(string(bytes.TrimSpace(out))) {
				exec.Command("kill", "-9", p).Run()
			}
		}
		exec.Command("ip", "netns", "del", ns).Run()
	}
	l.namespaces = nil
}
