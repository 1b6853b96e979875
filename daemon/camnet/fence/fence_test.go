package fence

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

func TestCameraNetworkForwardingOff(t *testing.T) {
	dir := t.TempDir()
	old := ProcSys
	ProcSys = dir
	defer func() { ProcSys = old }()
	for _, p := range []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte("1\n"), 0o644)
	}
	if err := ForwardingOff(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "net/ipv4/ip_forward"))
	if string(b) != "0\n" {
		t.Fatalf("ip_forward %q", b)
	}
	os.RemoveAll(filepath.Join(dir, "net/ipv4"))
	if err := ForwardingOff(); err == nil {
		t.Fatal("no error without net/ipv4/ip_forward")
	}
}

// TestCameraNetworkFenceInstall installs, reads back and removes the
// table in a fresh network namespace (root).
func TestCameraNetworkFenceInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("nf_tables needs root (and a network namespace of the test's own)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New() // this thread is now in a new namespace
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		netns.Set(orig)
		ns.Close()
	}()
	if err := Check(); err == nil {
		t.Fatal("Check passed before Install")
	}
	for range 2 { // installing twice replaces
		if err := Install("cnet-test0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	if err := Remove(); err != nil {
		t.Fatal(err)
	}
	if err := Check(); err == nil {
		t.Fatal("Check passed after Remove")
	}
	if err := Install("an-interface-name-too-long"); err == nil {
		t.Fatal("accepted a name longer than IFNAMSIZ")
	}
}
