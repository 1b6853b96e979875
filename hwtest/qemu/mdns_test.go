package qemu_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/qemu"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/matthan/matthan/image/disk"
	"github.com/vishvananda/netns"
)

// inNamespace runs f on a thread inside the named network namespace:
// sockets it opens and processes it starts live there.
func inNamespace(t *testing.T, name string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // not unlocked: the thread ends with its namespace
		h, err := netns.GetFromName(name)
		if err != nil {
			t.Errorf("namespace %s: %v", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			t.Errorf("enter %s: %v", name, err)
			return
		}
		f()
	}()
	<-done
}

// TestBootPartitionNetworkFileAndMDNS: a technician writes
// matthan-network.txt (Windows line ends) on the card's boot partition.
// The box boots from the disk under UEFI with its uplink on a tap device
// bridged into a namespace (the commune network, no DHCP): it takes the
// static address, moves the file to the data partition, answers mDNS
// for matthan-3456.local (QEMU's MAC 52:54:00:12:34:56) to dig and
// mdns-scan, and its HTTPS certificate covers that name. A second boot
// uses the data partition's copy.
func TestBootPartitionNetworkFileAndMDNS(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the mDNS boot test needs root (a network namespace with a tap device)")
	}
	fw := firmware(t)
	testenv.NeedFile(t, qemu.UEFIFirmware, "apt-get install qemu-efi-aarch64")
	ipTool := testenv.LookTool(t, "ip", "iproute2")
	dig := testenv.LookTool(t, "dig", "dnsutils")
	mdnsScan := testenv.LookTool(t, "mdns-scan", "mdns-scan")
	mcopy := testenv.LookTool(t, "mcopy", "mtools")
	mtype := testenv.LookTool(t, "mtype", "mtools")

	img := copyDisk(t, fw.Image)
	fat := fmt.Sprintf("%s@@%dM", img, disk.FirstMiB)
	file := filepath.Join(t.TempDir(), "matthan-network.txt")
	os.WriteFile(file, []byte("# Mắt Thần: mạng xã\r\naddress = 10.231.0.1/24\r\n"), 0o644)
	if out, err := exec.Command(mcopy, "-i", fat, file, "::matthan-network.txt").CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}

	ns := fmt.Sprintf("mt-mdns-qemu-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipTool, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command(ipTool, "netns", "del", ns).Run() })
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "tuntap", "add", "tap0", "mode", "tap")
	ip("-n", ns, "link", "add", "br0", "type", "bridge")
	ip("-n", ns, "link", "set", "tap0", "master", "br0")
	ip("-n", ns, "addr", "add", "10.231.0.2/24", "dev", "br0")
	ip("-n", ns, "link", "set", "tap0", "up")
	ip("-n", ns, "link", "set", "br0", "multicast", "on", "up")
	ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "br0")

	o := qemu.Options{Disk: img, Netdev: "tap,id=n0,ifname=tap0,script=no,downscript=no", Netns: ns}
	m := boot(t, o)
	waitLine(t, m, regexp.MustCompile(`network +ok: eth0 10\.231\.0\.1/24 \(static\) from matthan-network\.txt on the boot partition, moved to the data partition`), 180*time.Second)
	ready := waitLine(t, m, readyLine, 120*time.Second)
	t.Logf("ready %.1fs after QEMU started: %s", ready.At.Sub(m.Started).Seconds(), ready.Text)
	if !strings.Contains(ready.Text, " or https://matthan-3456.local:8443/ ") {
		t.Errorf("ready line without the name: %s", ready.Text)
	}
	waitLine(t, m, regexp.MustCompile(`matthand: admin page by name: https://matthan-3456\.local:8443/`), 30*time.Second)

	var answer string
	for try := 0; try < 10 && answer != "10.231.0.1"; try++ {
		out, _ := exec.Command(ipTool, "netns", "exec", ns, dig, "@10.231.0.1", "-p", "5353", "matthan-3456.local", "A", "+short", "+time=2", "+tries=1").CombinedOutput()
		answer = strings.TrimSpace(string(out))
		if answer != "10.231.0.1" {
			time.Sleep(time.Second)
		}
	}
	if answer != "10.231.0.1" {
		t.Errorf("dig matthan-3456.local from the commune network: %q", answer)
	}
	out, _ := exec.Command(ipTool, "netns", "exec", ns, "timeout", "6", mdnsScan).CombinedOutput()
	if !strings.Contains(strings.ReplaceAll(string(out), "\r", "\n"), "+ Mắt Thần matthan-3456._https._tcp.local") {
		t.Errorf("mdns-scan did not list the box:\n%.400s", out)
	}
	inNamespace(t, ns, func() {
		d := &net.Dialer{Timeout: 10 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", "10.231.0.1:8443", &tls.Config{ServerName: "matthan-3456.local", InsecureSkipVerify: true})
		if err != nil {
			t.Errorf("HTTPS to the box: %v", err)
			return
		}
		defer c.Close()
		if err := c.ConnectionState().PeerCertificates[0].VerifyHostname("matthan-3456.local"); err != nil {
			t.Errorf("certificate: %v", err)
		}
	})
	powerOff(t, m, true)

	if out, err := exec.Command(mtype, "-i", fat, "::matthan-network.txt.applied").CombinedOutput(); err != nil || !strings.Contains(string(out), "address = 10.231.0.1/24") {
		t.Errorf("boot partition after the first boot: matthan-network.txt.applied: %v\n%s", err, out)
	}
	if out, err := exec.Command(mtype, "-i", fat, "::matthan-network.txt").CombinedOutput(); err == nil {
		t.Errorf("boot partition after the first boot: matthan-network.txt still there:\n%s", out)
	}

	m = boot(t, o)
	waitLine(t, m, regexp.MustCompile(`network +ok: eth0 10\.231\.0\.1/24 \(static\) from matthan-network\.txt on the data partition`), 180*time.Second)
	waitLine(t, m, readyLine, 120*time.Second)
	powerOff(t, m, true)
}
