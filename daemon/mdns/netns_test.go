package mdns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	hmdns "github.com/hashicorp/mdns"
	"github.com/matthan/matthan/daemon/boxname"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

// The namespace test re-runs this test binary inside the namespaces
// (ip netns exec) in one of these roles.
const roleEnv = "MT_MDNS_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "serve":
		os.Exit(helperServe())
	case "browse":
		os.Exit(helperBrowse())
	case "multicast":
		os.Exit(helperMulticast())
	}
	os.Exit(m.Run())
}

// helperServe runs the responder on up0 under the name derived from up0's
// MAC, with another socket joined to the mDNS group on cam0 (as a future
// camera-network service would), until stdin closes.
func helperServe() int {
	name, err := boxname.ForInterface("up0")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if cam, err := net.InterfaceByName("cam0"); err == nil {
		other, err := net.ListenMulticastUDP("udp4", cam, &net.UDPAddr{IP: Group, Port: Port})
		if err != nil {
			fmt.Println("error: other listener on cam0:", err)
			return 1
		}
		defer other.Close()
	}
	r, err := Start(context.Background(), Options{Interface: "up0", Host: name, Port: 8443,
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("ready %s bound=%v\n", name, r.BoundToDevice)
	io.Copy(io.Discard, os.Stdin)
	r.Close()
	return 0
}

// helperBrowse asks with hashicorp/mdns's own client for _https._tcp on
// the interface named by MT_MDNS_IF and prints the entries as JSON lines.
func helperBrowse() int {
	ifi, err := net.InterfaceByName(os.Getenv("MT_MDNS_IF"))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	ch := make(chan *hmdns.ServiceEntry, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			json.NewEncoder(os.Stdout).Encode(map[string]any{"name": e.Name, "host": e.Host, "ip": e.AddrV4.String(), "port": e.Port, "info": e.InfoFields})
		}
	}()
	err = hmdns.Query(&hmdns.QueryParam{Service: "_https._tcp", Domain: "local", Timeout: 3 * time.Second,
		Interface: ifi, Entries: ch, DisableIPv6: true, Logger: log.New(io.Discard, "", 0)})
	close(ch)
	<-done
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

// helperMulticast asks the way responders on port 5353 do (avahi, Apple's
// mDNSResponder): from port 5353, answer expected on the group.
func helperMulticast() int {
	ifi, err := net.InterfaceByName(os.Getenv("MT_MDNS_IF"))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: Group, Port: Port})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c)
	pc.SetMulticastInterface(ifi)
	pc.SetMulticastLoopback(false)
	q := new(dns.Msg)
	q.SetQuestion(os.Getenv("MT_MDNS_NAME"), dns.TypeA)
	q.Id = 0
	q.RecursionDesired = false
	b, _ := q.Pack()
	for try := 0; try < 3; try++ {
		if _, err := c.WriteTo(b, &net.UDPAddr{IP: Group, Port: Port}); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 9000)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			var m dns.Msg
			if m.Unpack(buf[:n]) != nil || !m.Response {
				continue
			}
			for _, rr := range m.Answer {
				if a, ok := rr.(*dns.A); ok {
					fmt.Printf("A %s %s\n", a.Hdr.Name, a.A)
				}
			}
			return 0
		}
	}
	fmt.Println("no answer on the group")
	return 1
}

// TestNamespaces puts the responder in a "box" namespace with an uplink
// (veth to a "phone" namespace) and a camera network (veth to a "camera"
// namespace), then asks from both with dig (dnsutils: not our code),
// hashicorp/mdns's client and a 5353-style querier. The phone gets
// answers; the camera network gets none.
func TestNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "network namespaces need root (ip netns add): run the test as root")
	}
	ipTool := testenv.LookTool(t, "ip", "iproute2")
	dig := testenv.LookTool(t, "dig", "dnsutils")
	mdnsScan := testenv.LookTool(t, "mdns-scan", "mdns-scan")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	box, phone, camera := "mt-mdns-box-"+id, "mt-mdns-phone-"+id, "mt-mdns-cam-"+id
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipTool, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{box, phone, camera} {
		ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command(ipTool, "netns", "del", ns).Run() })
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", box, "link", "add", "up0", "address", "02:00:00:00:34:56", "type", "veth", "peer", "name", "up0", "netns", phone)
	ip("-n", box, "link", "add", "cam0", "address", "02:00:00:00:ca:fe", "type", "veth", "peer", "name", "cam0", "netns", camera)
	for _, l := range []struct{ ns, dev, addr string }{
		{box, "up0", "10.231.0.1/24"}, {phone, "up0", "10.231.0.2/24"},
		{box, "cam0", "10.232.0.1/24"}, {camera, "cam0", "10.232.0.2/24"},
	} {
		ip("-n", l.ns, "addr", "add", l.addr, "dev", l.dev)
		ip("-n", l.ns, "link", "set", l.dev, "multicast", "on", "up")
	}
	// The phone and the camera have no default route: send multicast out
	// of their one link.
	ip("-n", phone, "route", "add", "224.0.0.0/4", "dev", "up0")
	ip("-n", camera, "route", "add", "224.0.0.0/4", "dev", "cam0")

	srv := exec.Command(ipTool, "netns", "exec", box, self, "-test.run=^$")
	srv.Env = append(os.Environ(), roleEnv+"=serve")
	stdin, _ := srv.StdinPipe()
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = testWriter{t}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); srv.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready matthan-3456 ") {
		t.Fatalf("responder: %q, %v", line, err)
	}
	t.Logf("responder: %s", strings.TrimSpace(line))

	// dig 9.18 connects its UDP socket to the server it asks, so it drops
	// an answer to a query sent to the group (it comes from the box's
	// address): dig asks the box's address on port 5353 instead (RFC 6762
	// §5.5 direct unicast; answered as legacy unicast). mdns-scan asks on
	// the group from port 5353 and reads the answers on the group.
	digA := func(ns, server, name string) string {
		out, _ := exec.Command(ipTool, "netns", "exec", ns, dig, "@"+server, "-p", "5353", name, "A",
			"+short", "+time=1", "+tries=2").CombinedOutput()
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if l != "" && !strings.HasPrefix(l, ";") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	scan := func(ns string) string {
		cmd := exec.Command(ipTool, "netns", "exec", ns, "timeout", "4", mdnsScan)
		out, _ := cmd.CombinedOutput()
		return strings.ReplaceAll(string(out), "\r", "\n")
	}
	browse := func(ns, dev string) string {
		cmd := exec.Command(ipTool, "netns", "exec", ns, self, "-test.run=^$")
		cmd.Env = append(os.Environ(), roleEnv+"=browse", "MT_MDNS_IF="+dev)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("browse: %v\n%s", err, out)
		}
		return string(out)
	}
	t.Run("dig A from the uplink", func(t *testing.T) {
		for _, name := range []string{"matthan-3456.local", "MATTHAN-3456.Local"} {
			if got := digA(phone, "10.231.0.1", name); got != "10.231.0.1" {
				t.Errorf("dig %s from the phone: %q, want 10.231.0.1", name, got)
			}
		}
		if got := digA(phone, "10.231.0.1", "matthan-0000.local"); got != "" {
			t.Errorf("dig for another box's name answered %q", got)
		}
	})
	t.Run("dig PTR and SRV from the uplink", func(t *testing.T) {
		out, _ := exec.Command(ipTool, "netns", "exec", phone, dig, "@10.231.0.1", "-p", "5353", "_https._tcp.local", "PTR",
			"+time=1", "+tries=2").CombinedOutput()
		s := string(out)
		for _, want := range []string{`PTR	M\225\186\175t\032Th\225\186\167n\032matthan-3456._https._tcp.local.`,
			"IN SRV 10 1 8443 matthan-3456.local.", "matthan-3456.local.\t10\tIN\tA\t10.231.0.1", "\"path=/\""} {
			if !strings.Contains(s, want) {
				t.Errorf("dig PTR lacks %q:\n%s", want, s)
			}
		}
	})
	t.Run("mdns-scan browses on the group", func(t *testing.T) {
		if out := scan(phone); !strings.Contains(out, "+ Mắt Thần matthan-3456._https._tcp.local") {
			t.Errorf("mdns-scan from the phone did not list the box:\n%.500s", out)
		}
	})
	t.Run("hashicorp client browses the service", func(t *testing.T) {
		out := browse(phone, "up0")
		var e struct {
			Name, Host, IP string
			Port           int
		}
		found := false
		for _, l := range strings.Split(out, "\n") {
			if json.Unmarshal([]byte(l), &e) == nil && e.Host == "matthan-3456.local." {
				found = true
				if e.IP != "10.231.0.1" || e.Port != 8443 || e.Name != `M\225\186\175t\ Th\225\186\167n\ matthan-3456._https._tcp.local.` {
					t.Errorf("entry %+v", e)
				}
			}
		}
		if !found {
			t.Errorf("no entry for matthan-3456.local.:\n%s", out)
		}
	})
	t.Run("querier on port 5353 gets the answer on the group", func(t *testing.T) {
		cmd := exec.Command(ipTool, "netns", "exec", phone, self, "-test.run=^$")
		cmd.Env = append(os.Environ(), roleEnv+"=multicast", "MT_MDNS_IF=up0", "MT_MDNS_NAME=matthan-3456.local.")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "A matthan-3456.local. 10.231.0.1") {
			t.Errorf("multicast query: %v\n%s", err, out)
		}
	})
	t.Run("camera network hears nothing", func(t *testing.T) {
		if got := digA(camera, "10.232.0.1", "matthan-3456.local"); got != "" {
			t.Errorf("dig to the box's camera-side address answered %q", got)
		}
		if out := scan(camera); strings.Contains(out, "matthan") {
			t.Errorf("mdns-scan from the camera network listed the box:\n%.500s", out)
		}
		if out := browse(camera, "cam0"); strings.Contains(out, "matthan") {
			t.Errorf("hashicorp client on the camera network found the box:\n%s", out)
		}
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("responder: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
