// Package qemu boots the firmware in QEMU (arm64 virt machine under TCG)
// for the boot tests, `make run` and the boot benchmark: by direct kernel
// boot of the initramfs (fast) or under UEFI from the full disk image. It
// reads the serial console line by line, forwards the admin port to
// 127.0.0.1, speaks to the QEMU monitor (system_powerdown presses the
// virtual power button) and can cut the power (SIGKILL).
package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binary is the QEMU system emulator used.
const Binary = "qemu-system-aarch64"

// UEFIFirmware is Debian's qemu-efi-aarch64 firmware image.
const UEFIFirmware = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"

// Options say how to boot.
type Options struct {
	// Kernel and Initrd: direct kernel boot (Cmdline is the command line).
	Kernel, Initrd, Cmdline string
	// Disk is a raw disk image attached as a virtio disk; without Kernel
	// the machine boots it under UEFI.
	Disk string
	// HostPort is the 127.0.0.1 port forwarded to the guest's plain-HTTP
	// port 8080 (/api/health, redirects) (0: pick a free one).
	HostPort int
	// TLSHostPort is the 127.0.0.1 port forwarded to the guest's HTTPS
	// admin page, GuestTLSPort (0: pick a free one).
	TLSHostPort int
	// Memory in MiB (default 512) and CPUs (default 2).
	Memory, CPUs int
	// Console receives every console line as it comes (may be nil).
	Console io.Writer
	// Dir holds the monitor socket (default: a temporary folder).
	Dir string
	// Netdev replaces the uplink's QEMU -netdev (default: user networking
	// with the port forwards), e.g. "tap,id=n0,ifname=tap0,script=no,downscript=no"
	// (the id must be n0).
	Netdev string
	// CameraNetdev is the camera network's QEMU -netdev, the box's second
	// NIC (eth1; the id must be n1). Default: a hub port with nothing
	// else on the hub (a camera port with no camera plugged in).
	CameraNetdev string
	// Files are passed to QEMU as descriptors 3, 4, … (a tap device's for
	// CameraNetdev "tap,id=n1,fd=3").
	Files []*os.File
	// Netns is the network namespace QEMU runs in (where a tap device of
	// Netdev is), through `ip netns exec` (default: this one).
	Netns string
	// Extra arguments for QEMU (devices for a test: a USB controller…).
	Extra []string
}

// GuestTLSPort is the guest's HTTPS port: matthand's -listen-tls default
// for -listen :8080.
const GuestTLSPort = 8443

// Machine is a running QEMU.
type Machine struct {
	HostPort    int
	TLSHostPort int
	Started     time.Time

	cmd     *exec.Cmd
	monitor string
	dir     string
	ownDir  bool

	mu      sync.Mutex
	lines   []Line
	changed chan struct{}
	exited  chan struct{}
	waitErr error
}

// Line is one console line and when it arrived.
type Line struct {
	Text string
	At   time.Time
}

// Available reports why QEMU cannot run here, or nil.
func Available() error {
	if _, err := exec.LookPath(Binary); err != nil {
		return fmt.Errorf("%s not found: install the Debian package qemu-system-arm", Binary)
	}
	return nil
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Args builds QEMU's command line.
func Args(o Options, monitor string) []string {
	mem, cpus := o.Memory, o.CPUs
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 2
	}
	camNetdev := o.CameraNetdev
	if camNetdev == "" {
		camNetdev = "hubport,id=n1,hubid=77"
	}
	netdev := o.Netdev
	if netdev == "" {
		netdev = fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8080,hostfwd=tcp:127.0.0.1:%d-:%d", o.HostPort, o.TLSHostPort, GuestTLSPort)
	}
	args := []string{
		"-M", "virt,acpi=off", "-cpu", "cortex-a53", "-smp", fmt.Sprint(cpus), "-m", fmt.Sprint(mem),
		"-nographic", "-no-reboot",
		"-netdev", netdev,
		"-device", "virtio-net-pci,netdev=n0,romfile=",
		"-netdev", camNetdev,
		"-device", "virtio-net-pci,netdev=n1,romfile=,mac=52:54:00:77:00:01",
		"-device", "i6300esb",
		"-device", "virtio-rng-pci",
		"-monitor", "unix:" + monitor + ",server,nowait",
		"-serial", "stdio",
	}
	if o.Kernel != "" {
		args = append(args, "-kernel", o.Kernel, "-append", o.Cmdline)
		if o.Initrd != "" {
			args = append(args, "-initrd", o.Initrd)
		}
	} else {
		args = append(args, "-bios", UEFIFirmware)
	}
	if o.Disk != "" {
		args = append(args, "-drive", "file="+o.Disk+",if=virtio,format=raw,cache=writeback")
	}
	return append(args, o.Extra...)
}

// Start boots a machine. It is stopped (killed) when ctx ends.
func Start(ctx context.Context, o Options) (*Machine, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	m := &Machine{changed: make(chan struct{}), exited: make(chan struct{})}
	if o.HostPort == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		o.HostPort = p
	}
	m.HostPort = o.HostPort
	if o.TLSHostPort == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		o.TLSHostPort = p
	}
	m.TLSHostPort = o.TLSHostPort
	m.dir = o.Dir
	if m.dir == "" {
		d, err := os.MkdirTemp("", "matthan-qemu-")
		if err != nil {
			return nil, err
		}
		m.dir, m.ownDir = d, true
	}
	m.monitor = filepath.Join(m.dir, "monitor.sock")
	if o.Netns != "" {
		m.cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", o.Netns, Binary}, Args(o, m.monitor)...)...)
	} else {
		m.cmd = exec.CommandContext(ctx, Binary, Args(o, m.monitor)...)
	}
	m.cmd.Stdin = nil
	m.cmd.ExtraFiles = o.Files
	// Its own process group: a Ctrl-C in the terminal reaches the
	// harness (which presses the power button), not QEMU (which would
	// stop at once, a power cut).
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	m.cmd.Stderr = m.cmd.Stdout
	m.Started = time.Now()
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", Binary, err)
	}
	go m.read(out, o.Console)
	return m, nil
}

func (m *Machine) read(r io.Reader, echo io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		text := strings.TrimRight(sc.Text(), "\r")
		if echo != nil {
			fmt.Fprintln(echo, text)
		}
		m.mu.Lock()
		m.lines = append(m.lines, Line{Text: text, At: time.Now()})
		close(m.changed)
		m.changed = make(chan struct{})
		m.mu.Unlock()
	}
	err := m.cmd.Wait()
	m.mu.Lock()
	m.waitErr = err
	m.mu.Unlock()
	close(m.exited)
	if m.ownDir {
		os.RemoveAll(m.dir)
	}
}

// WaitLine waits for a console line matching re (counting lines from the
// start of the boot) and returns it.
func (m *Machine) WaitLine(ctx context.Context, re *regexp.Regexp) (Line, error) {
	seen := 0
	for {
		m.mu.Lock()
		lines, changed := m.lines, m.changed
		m.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if re.MatchString(lines[seen].Text) {
				return lines[seen], nil
			}
		}
		select {
		case <-ctx.Done():
			return Line{}, fmt.Errorf("waiting for console line /%s/: %w", re, ctx.Err())
		case <-m.exited:
			m.mu.Lock()
			n := len(m.lines)
			m.mu.Unlock()
			if seen < n {
				continue
			}
			return Line{}, fmt.Errorf("waiting for console line /%s/: QEMU exited (%v)", re, m.ExitErr())
		case <-changed:
		}
	}
}

// Console returns the console output so far.
func (m *Machine) Console() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, l := range m.lines {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// Monitor sends one command to the QEMU monitor.
func (m *Machine) Monitor(command string) error {
	var c net.Conn
	var err error
	for i := 0; i < 50; i++ {
		if c, err = net.Dial("unix", m.monitor); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("qemu monitor: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return fmt.Errorf("qemu monitor %q: %w", command, err)
	}
	// Read the echo so the command is processed before we close.
	buf := make([]byte, 4096)
	c.Read(buf)
	time.Sleep(100 * time.Millisecond)
	return nil
}

// MonitorCommand sends one command to the QEMU monitor and returns what
// it answered (up to the next prompt): device_add and device_del hot-plug
// devices this way.
func (m *Machine) MonitorCommand(command string) (string, error) {
	c, err := net.Dial("unix", m.monitor)
	if err != nil {
		return "", fmt.Errorf("qemu monitor: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	upToPrompt := func() (string, error) {
		var b strings.Builder
		for !strings.HasSuffix(b.String(), "(qemu) ") {
			ch, err := r.ReadByte()
			if err != nil {
				return b.String(), fmt.Errorf("qemu monitor %q: %w", command, err)
			}
			b.WriteByte(ch)
		}
		return strings.TrimSuffix(b.String(), "(qemu) "), nil
	}
	if _, err := upToPrompt(); err != nil { // the greeting
		return "", err
	}
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return "", fmt.Errorf("qemu monitor %q: %w", command, err)
	}
	out, err := upToPrompt()
	// The monitor echoes the command (with terminal escapes): drop that line.
	if _, rest, ok := strings.Cut(out, "\n"); ok {
		out = rest
	}
	return strings.TrimSpace(out), err
}

// PowerButton presses the virtual power button (ACPI off: the device
// tree's gpio-keys KEY_POWER on the PL061).
func (m *Machine) PowerButton() error { return m.Monitor("system_powerdown") }

// Exited is closed when QEMU has exited.
func (m *Machine) Exited() <-chan struct{} { return m.exited }

// ExitErr is QEMU's exit status once it has exited.
func (m *Machine) ExitErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waitErr
}

// Wait waits for QEMU to exit, up to timeout.
func (m *Machine) Wait(timeout time.Duration) error {
	select {
	case <-m.exited:
		return m.ExitErr()
	case <-time.After(timeout):
		return errors.New("qemu still running")
	}
}

// Kill cuts the power: SIGKILL to QEMU, nothing reaches the disk after.
func (m *Machine) Kill() {
	if m.cmd.Process != nil {
		m.cmd.Process.Kill()
	}
	<-m.exited
}

// URL is the guest's plain-HTTP port (/api/health; the rest redirects)
// on the host side of the port forward.
func (m *Machine) URL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", m.HostPort, path)
}

// AdminURL is the guest's HTTPS admin page and API on the host side of
// the port forward.
func (m *Machine) AdminURL(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", m.TLSHostPort, path)
}
