package camnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestCheckURL(t *testing.T) {
	strict := Policy{}
	dev := Policy{AllowLoopback: true}
	extra := Policy{Networks: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}
	for _, tc := range []struct {
		url       string
		p         Policy
		ok        bool
		numeric   bool // refused as a numeric host form
		skipNoDNS bool
	}{
		{url: "rtsp://192.168.1.64:554/Streaming/Channels/101", p: strict, ok: true},
		{url: "rtsp://admin:pw@10.0.2.2:8554/cam1", p: strict, ok: true},
		{url: "rtsp://172.16.0.9/x", p: strict, ok: true},
		{url: "rtsp://172.32.0.9/x", p: strict},
		{url: "rtsp://169.254.10.20/x", p: strict, ok: true},
		{url: "rtsp://[fd00::10]:554/x", p: strict, ok: true},
		{url: "rtsp://[fe80::10%25eth0]:554/x", p: strict, ok: true},
		{url: "rtsp://[::ffff:192.168.1.2]/x", p: strict, ok: true},
		{url: "rtsp://8.8.8.8/x", p: strict},
		{url: "rtsp://203.0.113.7/x", p: strict},
		{url: "rtsp://203.0.113.7/x", p: extra, ok: true},
		{url: "rtsp://[2001:db8::1]/x", p: strict},
		{url: "rtsp://0.0.0.0/x", p: strict},
		{url: "rtsp://224.0.0.1/x", p: strict},
		{url: "rtsp://127.0.0.1:22/x", p: strict},
		{url: "rtsp://127.0.0.1:8554/cam1", p: dev, ok: true},
		{url: "rtsp://[::1]:8554/cam1", p: strict},
		{url: "rtsp://[::1]:8554/cam1", p: dev, ok: true},
		{url: "rtsp://[::ffff:127.0.0.1]/x", p: strict},
		// Numeric forms: never a name for DNS, refused even with loopback allowed.
		{url: "rtsp://0x7f000001/x", p: dev, numeric: true},
		{url: "rtsp://2130706433/x", p: dev, numeric: true},
		{url: "rtsp://127.1/x", p: dev, numeric: true},
		{url: "rtsp://0177.0.0.1/x", p: dev, numeric: true},
		{url: "rtsp://10.1/x", p: strict, numeric: true},
		{url: "rtsp://0x/x", p: strict, numeric: true},
		{url: "rtsp://cam.0x10/x", p: strict, numeric: true},
		{url: "rtsp://127.0.0.1./x", p: dev, numeric: true},
		{url: "http://192.168.1.2/x", p: strict},
		{url: "rtsp:///x", p: strict},
		{url: "rtsp://localhost:8554/x", p: strict, skipNoDNS: true},
	} {
		err := tc.p.CheckURL(context.Background(), tc.url)
		if tc.skipNoDNS && err != nil && !errors.Is(err, ErrNotAllowed) {
			continue
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s (loopback %v): %v, want ok=%v", tc.url, tc.p.AllowLoopback, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNotAllowed) {
			t.Errorf("%s: error %v is not ErrNotAllowed", tc.url, err)
		}
		if tc.numeric && !errors.Is(err, ErrNumericHost) {
			t.Errorf("%s: %v, want ErrNumericHost", tc.url, err)
		}
	}
}

// TestNumericNeverResolved: a numeric host form never reaches the resolver.
func TestNumericNeverResolved(t *testing.T) {
	asked := false
	p := Policy{AllowLoopback: true, Resolver: &net.Resolver{PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			asked = true
			return nil, errors.New("no DNS in this test")
		}}}
	for _, h := range []string{"0x7f000001", "2130706433", "127.1", "0177.0.0.1", "1.2.3.0x4"} {
		if _, err := p.Resolve(context.Background(), h); !errors.Is(err, ErrNumericHost) {
			t.Errorf("%s: %v, want ErrNumericHost", h, err)
		}
	}
	if asked {
		t.Fatal("a numeric host went to DNS")
	}
}

// TestDialPinned: Dial connects to the address it checked, and refuses
// one it may not reach without connecting.
func TestDialPinned(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if _, err := (Policy{}).Dial(context.Background(), "tcp", "127.0.0.1:"+port); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("loopback dial without the flag: %v", err)
	}
	c, err := (Policy{AllowLoopback: true}).Dial(context.Background(), "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	if c.RemoteAddr().String() != "127.0.0.1:"+port {
		t.Errorf("dialled %s", c.RemoteAddr())
	}
	c.Close()
	// A name is resolved by the policy's resolver and the dial goes to
	// the checked address: a resolver answering loopback is refused.
	p := Policy{Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS")
	}}}
	if _, err := p.Dial(context.Background(), "tcp", "camera.invalid:"+port); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("unresolvable name: %v", err)
	}
}

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"127.1", "0x7f000001", "cam1", "fe80::1%eth0", "10.0.0.1", "a.b.0x", "", "1.2.3.4.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		a, isIP, err := ParseHost(host)
		if isIP && (err != nil || !a.IsValid()) {
			t.Fatalf("%q: isIP with %v %v", host, a, err)
		}
		if err != nil && !errors.Is(err, ErrNotAllowed) {
			t.Fatalf("%q: %v", host, err)
		}
	})
}
