package selftest

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/hwtest/testenv"
)

// Listing as Linux 6.1 prints it for QEMU virt's PL061 with the power
// key and a line driven by the self-test.
const qemuDebugGPIO = `gpiochip0: GPIOs 512-519, parent: platform/9030000.pl061, 9030000.pl061:
 gpio-512 (                    |matthan-selftest    ) out hi 
 gpio-513 (                    |status              ) out lo 
 gpio-515 (                    |GPIO Key Poweroff   ) in  lo IRQ ACTIVE LOW

gpiochip1: GPIOs 520-527, parent: platform/other, other:
 gpio-520 (                    |x                   ) out hi 
`

func TestParseDebugGPIO(t *testing.T) {
	lines, err := ParseDebugGPIO(strings.NewReader(qemuDebugGPIO), "9030000.pl061")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		off      int
		consumer string
		out, hi  bool
	}{
		{0, "matthan-selftest", true, true},
		{1, "status", true, false},
		{3, "GPIO Key Poweroff", false, false},
	} {
		got, ok := lines[tt.off]
		if !ok || got.Consumer != tt.consumer || got.Output != tt.out || got.High != tt.hi {
			t.Errorf("line %d = %+v (present %v), want consumer %q out=%v hi=%v", tt.off, got, ok, tt.consumer, tt.out, tt.hi)
		}
	}
	if len(lines) != 3 {
		t.Errorf("got %d lines, want 3 (other chip's lines excluded)", len(lines))
	}
	if _, err := ParseDebugGPIO(strings.NewReader(qemuDebugGPIO), "nope"); err == nil {
		t.Error("unknown chip accepted")
	}
}

func FuzzParseDebugGPIO(f *testing.F) {
	f.Add(qemuDebugGPIO, "9030000.pl061")
	f.Add("gpiochip0: GPIOs 0-7, parent: p, x:\n gpio-9 (|a) out hi\n", "x")
	f.Fuzz(func(t *testing.T, listing, label string) {
		ParseDebugGPIO(strings.NewReader(listing), label)
	})
}

// TestBoxKey: the self-test prints the fingerprint of the key the daemon
// made in the data folder (also before the public key file existed), and
// fails when there is none.
func TestBoxKey(t *testing.T) {
	data := t.TempDir()
	if r := BoxKey(data); r.OK {
		t.Errorf("no key, but %v", r)
	}
	keyPath := filepath.Join(data, evidence.BoxKeyDir, evidence.KeyFile)
	k, err := evidence.LoadOrCreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	fp := evidence.Fingerprint(k.Public().(ed25519.PublicKey))
	if r := BoxKey(data); !r.OK || !strings.Contains(r.String(), fp) {
		t.Errorf("%v, want PASS with %s", r, fp)
	}
	os.Remove(evidence.PubPath(keyPath))
	if r := BoxKey(data); !r.OK || !strings.Contains(r.String(), fp) {
		t.Errorf("without the public key file: %v, want PASS with %s", r, fp)
	}
}
func TestNetworkLine(t *testing.T) {
	if r := Network("no-such-if0", "8443"); r.OK || !strings.Contains(r.Detail, "no-such-if0") {
		t.Errorf("missing uplink: %v", r)
	}
	// Loopback: addresses but no MAC, so no name.
	r := Network("lo", "8443")
	if !r.OK || !strings.Contains(r.Detail, "127.0.0.1/8") || !strings.Contains(r.Detail, "https://127.0.0.1:8443/") || !strings.Contains(r.Detail, "no mDNS name") {
		t.Errorf("loopback: %v", r)
	}
}

func TestNetworkLineInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the self-test's network line is checked in a network namespace: run as root")
	}
	ipTool := testenv.LookTool(t, "ip", "iproute2")
	ns := fmt.Sprintf("mt-mdns-selftest-%d", os.Getpid())
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(ipTool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command(ipTool, "netns", "del", ns).Run() })
	run("-n", ns, "link", "add", "eth0", "address", "dc:a6:32:12:ab:cd", "type", "veth", "peer", "name", "peer0")
	run("-n", ns, "addr", "add", "192.168.1.50/24", "dev", "eth0")
	run("-n", ns, "link", "set", "eth0", "up")
	self, _ := os.Executable()
	cmd := exec.Command(ipTool, "netns", "exec", ns, self, "-test.run=^TestNetworkLineHelper$")
	cmd.Env = append(os.Environ(), "MT_SELFTEST_NETWORK=1")
	out, _ := cmd.CombinedOutput()
	want := "PASS network                eth0 192.168.1.50/24, name matthan-abcd.local; admin page https://matthan-abcd.local:8443/ or https://192.168.1.50:8443/"
	if !strings.Contains(string(out), want) {
		t.Errorf("self-test line:\n%s\nwant\n%s", out, want)
	}
}

func TestNetworkLineHelper(t *testing.T) {
	if os.Getenv("MT_SELFTEST_NETWORK") != "1" {
		t.Skip("run by TestNetworkLineInNamespace")
	}
	fmt.Println(Network("eth0", "8443"))
}
