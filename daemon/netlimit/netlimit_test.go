package netlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/testenv"
)

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	if c := testenv.DialFrom(t, src, addr); c != nil {
		return c
	}
	return resetConn{} // reset before connect returned: refused
}

// resetConn stands for a connection reset while dialling.
type resetConn struct{ net.Conn }

func (resetConn) Read([]byte) (int, error)        { return 0, syscall.ECONNRESET }
func (resetConn) SetReadDeadline(time.Time) error { return nil }
func (resetConn) Close() error                    { return nil }

// refused says whether the server closed c without a byte.
func refused(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func TestListenerCaps(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(inner, Limits{Total: 3, PerAddr: 2})
	defer l.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	addr := inner.Addr().String()
	var server []net.Conn
	want := func(c net.Conn, ok bool, what string) {
		t.Helper()
		if ok {
			select {
			case s := <-accepted:
				server = append(server, s)
				t.Cleanup(func() { s.Close() })
			case <-time.After(2 * time.Second):
				t.Fatalf("%s: not accepted", what)
			}
			if refused(c) {
				t.Fatalf("%s: closed, want open", what)
			}
			return
		}
		if !refused(c) {
			t.Fatalf("%s: open, want closed at once", what)
		}
	}
	want(dialFrom(t, "127.0.0.1", addr), true, "first from .1")
	want(dialFrom(t, "127.0.0.1", addr), true, "second from .1")
	want(dialFrom(t, "127.0.0.1", addr), false, "third from .1 (per-address cap 2)")
	want(dialFrom(t, "127.0.0.2", addr), true, "first from .2")
	want(dialFrom(t, "127.0.0.3", addr), false, "first from .3 (total cap 3)")
	if st := l.Stats(); st.Open != 3 || st.Addrs != 2 || st.Rejected != 2 {
		t.Fatalf("stats %+v, want 3 open from 2 addresses, 2 rejected", st)
	}
	// A slot comes back when a connection closes, once however often
	// Close is called.
	server[0].Close()
	server[0].Close()
	if st := l.Stats(); st.Open != 2 || st.Addrs != 2 {
		t.Fatalf("after a close: %+v, want 2 open", st)
	}
	want(dialFrom(t, "127.0.0.3", addr), true, "first from .3 after a close")
	want(dialFrom(t, "127.0.0.1", addr), false, "from .1 again (total cap 3)")
	for _, s := range server {
		s.Close()
	}
	if st := l.Stats(); st.Open != 0 || st.Addrs != 0 {
		t.Fatalf("all closed: %+v", st)
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:80", "127.0.0.1"},
		{"[::ffff:10.0.0.5]:1234", "10.0.0.5"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::"},
		{"[fe80::1%eth0]:443", "fe80::"},
	} {
		ap := net.TCPAddrFromAddrPort(mustAddrPort(t, tc.in))
		if got := addrKey(ap).String(); got != tc.want {
			t.Errorf("addrKey(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestBudget(t *testing.T) {
	b := Budget{Reserve: 512, PerConn: 2, Max: 1024, Min: 32}
	for _, tc := range []struct {
		limit uint64
		want  int
		short bool
	}{
		{65536, 1024, false},
		{4096, 1024, false}, // (4096-512)/2 = 1792, capped
		{1024, 256, false},
		{512, 32, true},
		{100, 32, true},
		{1 << 62, 1024, false},
	} {
		n, short := b.Total(tc.limit)
		if n != tc.want || short != tc.short {
			t.Errorf("Total(%d) = %d, %v; want %d, %v", tc.limit, n, short, tc.want, tc.short)
		}
	}
}

func TestRaiseFileLimit(t *testing.T) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	cur, err := RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if cur != r.Max {
		t.Fatalf("soft limit %d after raising, hard limit %d", cur, r.Max)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// TestRatePerAddr: short connections one after another from one address
// are refused past the rate, others are not.
func TestRatePerAddr(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(inner, Limits{RatePerAddr: 5})
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// Wait for the start of a second so the window holds all dials.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	for i := range 5 {
		c := dialFrom(t, "127.0.0.1", inner.Addr().String())
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Read(make([]byte, 1)) // the server closes it: wait for that
		c.Close()
		_ = i
	}
	time.Sleep(50 * time.Millisecond)
	before := l.Stats().Rejected
	dialFrom(t, "127.0.0.1", inner.Addr().String())
	dialFrom(t, "127.0.0.2", inner.Addr().String())
	time.Sleep(100 * time.Millisecond)
	if got := l.Stats().Rejected - before; got != 1 {
		t.Fatalf("%d refused, want 1 (the 6th from 127.0.0.1 in a second)", got)
	}
}

// Wrap limits inner on its own (tests only: the daemon shares one Group
// between its listeners).
func Wrap(inner net.Listener, lim Limits) *Listener {
	return NewGroup(lim).Wrap(inner)
}
