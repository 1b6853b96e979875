package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// CameraLAN puts simulated cameras on the QEMU box's camera network (its
// second NIC, eth1) for `make run` (root): a network namespace holding a
// bridge and a tap device, the tap handed to QEMU as a file descriptor
// (so nothing is added to this machine's own network), and one namespace
// per camera plugged into the bridge, each running camsim -dhcp: the
// cameras ask the box for their addresses, answer WS-Discovery and ONVIF,
// and so appear on the page when pairing is opened.
type CameraLAN struct {
	// Netdev is QEMU's -netdev for the camera NIC; Files its descriptors.
	Netdev string
	Files  []*os.File
	// Logins are the cameras' logins (user admin), by namespace.
	Logins map[string]string

	switchNS   string
	prefix     string
	namespaces []string
	procs      []*exec.Cmd
}

// Names inside the camera network's namespaces.
const (
	lanBridge = "cnet-br"
	lanTap    = "cnet-tap0"
	lanCamIf  = "cnet-eth0"
)

// NewCameraLAN makes the switch namespace (prefix-sw) and the tap (root
// only). prefix names every namespace: "cnet-run" for `make run`.
func NewCameraLAN(prefix string) (*CameraLAN, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("not root: network namespaces and tap devices need root")
	}
	lanSwitch := prefix + "-sw"
	l := &CameraLAN{switchNS: lanSwitch, prefix: prefix, Logins: map[string]string{}}
	exec.Command("ip", "netns", "del", lanSwitch).Run() // a run killed before its cleanup
	if err := l.addNS(lanSwitch); err != nil {
		return nil, err
	}
	tap, err := openTap(lanSwitch, lanTap)
	if err != nil {
		l.Stop()
		return nil, err
	}
	l.Files = []*os.File{tap}
	l.Netdev = "tap,id=n1,fd=3" // the first of ExtraFiles
	for _, args := range [][]string{
		{"link", "add", lanBridge, "type", "bridge"},
		{"link", "set", lanBridge, "up"},
		{"link", "set", lanTap, "master", lanBridge, "up"},
	} {
		if err := ipIn(l.switchNS, args...); err != nil {
			l.Stop()
			return nil, err
		}
	}
	return l, nil
}

// Plug starts n cameras (camsim at bin, clips in clipsDir) on the camera
// network, each in a namespace of its own with its own login.
func (l *CameraLAN) Plug(ctx context.Context, bin, clipsDir string, n int) error {
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%s-c%d", l.prefix, i)
		port := fmt.Sprintf("%s-p%d", l.prefix, i)
		exec.Command("ip", "netns", "del", ns).Run()
		if err := l.addNS(ns); err != nil {
			return err
		}
		for _, step := range []struct {
			ns   string
			args []string
		}{
			{ns, []string{"link", "set", "lo", "up"}},
			{ns, []string{"link", "add", lanCamIf, "type", "veth", "peer", "name", port, "netns", l.switchNS}},
			{l.switchNS, []string{"link", "set", port, "master", lanBridge, "up"}},
			{ns, []string{"link", "set", lanCamIf, "up"}},
		} {
			if err := ipIn(step.ns, step.args...); err != nil {
				return err
			}
		}
		pass := fmt.Sprintf("ma-xac-minh-%d", i)
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, bin, "-dhcp", lanCamIf, "-listen", ":554", "-control", "",
			"-cameras", "1", "-no-h265-camera", "-quiet", "-clips", clipsDir, "-auth", "admin:"+pass, "-discovery", lanCamIf)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("camera %d: %w", i, err)
		}
		l.procs = append(l.procs, cmd)
		l.Logins[ns] = pass
	}
	return nil
}

// Stop ends the cameras and deletes the namespaces (the tap goes with
// its namespace once QEMU has closed it).
func (l *CameraLAN) Stop() {
	for _, p := range l.procs {
		p.Process.Kill()
		p.Wait()
	}
	l.procs = nil
	for _, f := range l.Files {
		f.Close()
	}
	for i := len(l.namespaces) - 1; i >= 0; i-- {
		exec.Command("ip", "netns", "del", l.namespaces[i]).Run()
	}
	l.namespaces = nil
}

func (l *CameraLAN) addNS(ns string) error {
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %w: %s", ns, err, out)
	}
	l.namespaces = append(l.namespaces, ns)
	return nil
}

func ipIn(ns string, args ...string) error {
	if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s %v: %w: %s", ns, args, err, out)
	}
	return nil
}

// openTap creates tap device name inside namespace ns and returns its
// descriptor (QEMU's -netdev tap,fd=N).
func openTap(ns, name string) (*os.File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return nil, err
	}
	defer func() {
		if netns.Set(orig) != nil {
			runtime.LockOSThread() // never reuse a thread left in ns
		}
	}()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}
