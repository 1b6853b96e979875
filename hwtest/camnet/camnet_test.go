package camnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/daemon/camnet/fence"
	"github.com/matthan/matthan/daemon/ntp"
	"github.com/matthan/matthan/hwtest/internal/camlab"
	"github.com/matthan/matthan/hwtest/testenv"
)

// box starts matthand in the lab's box namespace with the camera
// interface, the admin page on the uplink address only.
func box(t *testing.T, l *camlab.Lab, data string) *camlab.Proc {
	t.Helper()
	bin := testenv.BuildCommand(t, "./daemon/cmd/matthand")
	p := l.Start(t, l.Box, bin, "-data", data,
		"-listen", camlab.BoxUplink+":8080", "-listen-tls", camlab.BoxUplink+":8443",
		"-camera-if", camlab.BoxCamIf, "-no-motion")
	p.WaitFor(t, "camera network up", 60*time.Second)
	p.WaitFor(t, "matthand ready", 60*time.Second)
	return p
}

// camsim starts a simulated camera that asks for its address by DHCP.
func camsim(t *testing.T, l *camlab.Lab, c *camlab.Camera) (*camlab.Proc, string) {
	t.Helper()
	clips := filepath.Join(testenv.OutDir(), "clips")
	testenv.NeedFile(t, filepath.Join(clips, "moving-720p.h264"), "make clips")
	bin := testenv.BuildCommand(t, "./hwtest/cmd/camsim")
	p := l.Start(t, c.NS, bin, "-dhcp", camlab.CamIf, "-listen", ":8554", "-control", "",
		"-cameras", "1", "-no-h265-camera", "-clips", clips)
	line := p.WaitFor(t, "camsim: lease ", 40*time.Second)
	m := regexp.MustCompile(`lease (10\.77\.0\.\d+)/24`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("camsim lease line %q: want an address of 10.77.0.0/24", line)
	}
	p.WaitFor(t, "camsim: ready", 20*time.Second)
	return p, m[1]
}

// udhcpc gets a lease with Debian's busybox udhcpc (an independent
// client) and returns the address.
func udhcpc(t *testing.T, l *camlab.Lab, c *camlab.Camera) string {
	t.Helper()
	bb := testenv.LookTool(t, "busybox", "busybox")
	script := filepath.Join(t.TempDir(), "udhcpc.sh")
	// udhcpc hands the lease to a script; this one sets the address.
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] || [ \"$1\" = renew ] || exit 0\nip addr replace \"$ip/$mask\" dev \"$interface\"\necho \"LEASE $ip/$mask NTP=$ntpsrv ROUTER=$router DNS=$dns\"\n"), 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.Command(ctx, bb, "udhcpc", "-i", camlab.CamIf, "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", script).CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`LEASE (10\.77\.0\.\d+)/24 NTP=(\S*) ROUTER=(\S*) DNS=(\S*)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("udhcpc got no lease of 10.77.0.0/24:\n%s", out)
	}
	if m[2] != "10.77.0.1" || m[3] != "" || m[4] != "" {
		t.Errorf("udhcpc lease options: NTP %q router %q DNS %q; want NTP 10.77.0.1, no router, no DNS", m[2], m[3], m[4])
	}
	return m[1]
}

type leaseFile struct {
	Leases []struct {
		MAC string `json:"mac"`
		IP  string `json:"ip"`
	} `json:"leases"`
}

func readLeases(t *testing.T, data string) leaseFile {
	t.Helper()
	var lf leaseFile
	b, err := os.ReadFile(filepath.Join(data, "camnet", "leases.json"))
	if err == nil {
		err = json.Unmarshal(b, &lf)
	}
	if err != nil {
		t.Fatalf("lease file: %v", err)
	}
	return lf
}

// TestCameraNetworkLeasesAndIsolation: the box serves leases to a
// simulated camera and to busybox udhcpc, keeps them in its lease file
// across a restart, serves time to the cameras, and from a camera's
// namespace neither the admin page nor the uplink can be reached (while
// both answer from where they should). Then 200 fake cameras flap and a
// real one still gets an address.
func TestCameraNetworkLeasesAndIsolation(t *testing.T) {
	l := camlab.New(t)
	data := t.TempDir()
	b := box(t, l, data)
	b2 := b

	t0 := time.Now()
	cam1 := l.AddCamera("cam1")
	_, ip1 := camsim(t, l, cam1)
	t.Logf("camsim lease %s after %.1f s", ip1, time.Since(t0).Seconds())
	t0 = time.Now()
	cam2 := l.AddCamera("cam2")
	ip2 := udhcpc(t, l, cam2)
	t.Logf("udhcpc lease %s after %.1f s", ip2, time.Since(t0).Seconds())
	if ip1 == ip2 {
		t.Fatalf("two cameras got %s", ip1)
	}
	lf := readLeases(t, data)
	if len(lf.Leases) != 2 {
		t.Fatalf("lease file holds %+v, want the two cameras", lf.Leases)
	}

	// The fence is in place and forwarding is off, in the box's namespace.
	if err := camlab.In(l.Box, fence.Check); err != nil {
		t.Fatal(err)
	}
	if fwd := strings.TrimSpace(l.Run(l.Box, "cat", "/proc/sys/net/ipv4/ip_forward")); fwd != "0" {
		t.Fatalf("ip_forward = %s in the box", fwd)
	}

	t.Run("time", func(t *testing.T) {
		var c net.PacketConn
		var err error
		if c, err = camlab.ListenPacket(cam1.NS, "udp4", ":0"); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		now := time.Now()
		q := ntp.Packet{Version: 4, Mode: ntp.ModeClient, Transmit: ntp.NewTimestamp(now)}
		if _, err := c.WriteTo(q.Append(nil), &net.UDPAddr{IP: net.ParseIP("10.77.0.1"), Port: 123}); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 128)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no SNTP answer from the box on the camera network: %v", err)
		}
		r, err := ntp.Decode(buf[:n])
		if err != nil || r.Mode != ntp.ModeServer || r.Origin != q.Transmit {
			t.Fatalf("SNTP answer %+v %v", r, err)
		}
		if d := r.Transmit.Time().Sub(now); d < -5*time.Second || d > 5*time.Second {
			t.Fatalf("box time %v, camera's %v", r.Transmit.Time(), now)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		wanLn, err := camlab.Listen(l.WAN, "tcp4", camlab.WANAddr+":9000")
		if err != nil {
			t.Fatal(err)
		}
		defer wanLn.Close()
		go func() {
			for {
				c, err := wanLn.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		// What must answer, from where it should.
		for _, tt := range []struct{ ns, addr string }{
			{l.WAN, camlab.BoxUplink + ":8080"}, {l.WAN, camlab.BoxUplink + ":8443"}, {l.Box, camlab.WANAddr + ":9000"},
		} {
			c, err := camlab.Dial(tt.ns, tt.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("control: %s from %s: %v", tt.addr, tt.ns, err)
			}
			c.Close()
		}
		// A camera that tries hard: a default route through the box.
		l.Run(cam1.NS, "ip", "route", "replace", "default", "via", "10.77.0.1")
		addrs := []string{"10.77.0.1:8080", "10.77.0.1:8443", "10.77.0.1:22",
			camlab.BoxUplink + ":8080", camlab.BoxUplink + ":8443", camlab.WANAddr + ":9000"}
		reached := make(chan string, len(addrs))
		for _, addr := range addrs {
			go func() {
				if c, err := camlab.Dial(cam1.NS, addr, 2*time.Second); err == nil {
					c.Close()
					reached <- addr
					return
				}
				reached <- ""
			}()
		}
		for range addrs {
			if a := <-reached; a != "" {
				t.Errorf("camera reached %s", a)
			}
		}
	})

	outer := t
	t.Run("restart keeps leases", func(t *testing.T) {
		b.Cmd.Process.Signal(unix.SIGTERM)
		b.Cmd.Process.Wait()
		b2 = box(outer, l, data) // runs on after this subtest
		// cam2 (busybox) asks again: same address.
		if got := udhcpc(t, l, cam2); got != ip2 {
			t.Fatalf("after restart udhcpc got %s, had %s", got, ip2)
		}
	})

	t.Run("200 flapping cameras", func(t *testing.T) {
		flood := l.AddCamera("flood")
		l.Run(flood.NS, "ip", "addr", "add", "10.77.0.250/24", "dev", camlab.CamIf)
		var c net.PacketConn
		err := camlab.In(flood.NS, func() error {
			var err error
			c, err = (&net.ListenConfig{Control: func(_, _ string, rc syscallRawConn) error {
				return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1) })
			}}).ListenPacket(context.Background(), "udp4", ":68")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
		for round := 0; round < 5; round++ {
			for i := 0; i < 200; i++ {
				hw := net.HardwareAddr{0x02, 0xf1, 0, byte(round), byte(i >> 8), byte(i)}
				d, _ := dhcpv4.NewDiscovery(hw)
				c.WriteTo(d.ToBytes(), bcast)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// A real camera still gets its address, the box still runs.
		defer func() {
			if t.Failed() {
				t.Logf("box output:\n%s", b2.Output())
			}
		}()
		cam3 := l.AddCamera("cam3")
		ip3 := udhcpc(t, l, cam3)
		if ip3 == ip1 || ip3 == ip2 {
			t.Fatalf("cam3 got %s, already another camera's", ip3)
		}
		if n := len(readLeases(t, data).Leases); n > 64 {
			t.Fatalf("%d leases kept", n)
		}
	})
}

// TestCameraNetworkSecondDHCPServer: a household router plugged into the
// camera network (busybox udhcpd here) is reported, not fought.
func TestCameraNetworkSecondDHCPServer(t *testing.T) {
	l := camlab.New(t)
	bb := testenv.LookTool(t, "busybox", "busybox")
	router := l.AddCamera("router")
	l.Run(router.NS, "ip", "addr", "add", "192.168.1.1/24", "dev", camlab.CamIf)
	conf := filepath.Join(t.TempDir(), "udhcpd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("start 192.168.1.100\nend 192.168.1.150\ninterface %s\nlease_file %s\nopt router 192.168.1.1\n",
		camlab.CamIf, filepath.Join(t.TempDir(), "leases"))), 0o644)
	l.Start(t, router.NS, bb, "udhcpd", "-f", conf)
	time.Sleep(300 * time.Millisecond)
	b := box(t, l, t.TempDir())
	line := b.WaitFor(t, "camnet_rogue_dhcp", 20*time.Second)
	if !strings.Contains(line, "192.168.1.1") {
		t.Errorf("event line %q does not name the other server", line)
	}
}
