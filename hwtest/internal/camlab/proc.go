package camlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Proc is a program running in a namespace whose output lines the test
// can wait for.
type Proc struct {
	Cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	cond chan struct{} // closed and replaced on every new line
	done chan struct{}
}

// Start runs name in ns until the test ends (then it is sent SIGTERM and
// waited for).
func (l *Lab) Start(t testing.TB, ns, name string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &Proc{Cmd: cmd, cond: make(chan struct{}), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in %s: %v", name, ns, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			close(p.cond)
			p.cond = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscallTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Output is everything the program printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// WaitFor waits until the output holds s and returns the line holding it.
func (p *Proc) WaitFor(t testing.TB, s string, limit time.Duration) string {
	t.Helper()
	deadline := time.After(limit)
	for {
		p.mu.Lock()
		out, cond := p.out.String(), p.cond
		p.mu.Unlock()
		if i := strings.Index(out, s); i >= 0 {
			line := out[i:]
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			if k := strings.LastIndexByte(out[:i], '\n'); k >= 0 {
				line = out[k+1:i] + line
			} else {
				line = out[:i] + line
			}
			return line
		}
		select {
		case <-cond:
		case <-p.done:
			t.Fatalf("%v exited before printing %q; output:\n%s", p.Cmd.Args, s, p.Output())
		case <-deadline:
			t.Fatalf("%v: no %q after %s; output:\n%s", p.Cmd.Args, s, limit, p.Output())
		}
	}
}

// Exited says whether the program has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// In runs f on a thread inside namespace ns: sockets f opens belong to ns
// and stay there after f returns.
func In(ns string, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("enter %s: %w", ns, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// This thread stays in ns: never reuse it (LockOSThread without
		// unlock ends the thread with the goroutine).
		runtime.LockOSThread()
		return fmt.Errorf("leave %s: %w", ns, err)
	}
	return ferr
}

// Dial connects over TCP from namespace ns.
func Dial(ns, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := In(ns, func() error {
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp4", addr)
		return err
	})
	return c, err
}

// Listen opens a listener in namespace ns.
func Listen(ns, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := In(ns, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet socket in namespace ns.
func ListenPacket(ns, network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := In(ns, func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}
