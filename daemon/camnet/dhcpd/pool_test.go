package dhcpd

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func mac(i int) string                   { return fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff) }
func ip(s string) netip.Addr             { return netip.MustParseAddr(s) }
func testConfig() Config {
	return Config{ServerIP: ip("10.77.0.1"), Prefix: netip.MustParsePrefix("10.77.0.0/24"),
		PoolStart: ip("10.77.0.100"), PoolSize: 64}
}

func newTestAlloc(t *testing.T, cfg Config) (*Allocator, *fakeClock) {
	t.Helper()
	c := &fakeClock{t: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	a, err := NewAllocator(cfg, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

// lease runs DISCOVER then REQUEST for m.
func lease(t *testing.T, a *Allocator, m string) netip.Addr {
	t.Helper()
	got, _, err := a.Offer(m, netip.Addr{}, "")
	if err != nil {
		t.Fatalf("offer %s: %v", m, err)
	}
	if d, _ := a.Request(m, got, true, true, ""); d != Ack {
		t.Fatalf("request %s %v: %v, want ack", m, got, d)
	}
	return got
}

func TestCameraNetworkNewAllocatorRejects(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Config)
	}{
		{"server outside", func(c *Config) { c.ServerIP = ip("192.168.1.1") }},
		{"pool over broadcast", func(c *Config) { c.PoolStart = ip("10.77.0.250") }},
		{"pool holds server", func(c *Config) { c.PoolStart = ip("10.77.0.1") }},
		{"bad reservation mac", func(c *Config) { c.Reservations = map[string]netip.Addr{"nope": ip("10.77.0.5")} }},
		{"reservation outside", func(c *Config) { c.Reservations = map[string]netip.Addr{mac(1): ip("10.78.0.5")} }},
		{"reservation twice", func(c *Config) {
			c.Reservations = map[string]netip.Addr{mac(1): ip("10.77.0.5"), mac(2): ip("10.77.0.5")}
		}},
		{"ipv6", func(c *Config) { c.Prefix = netip.MustParsePrefix("fd00::/64") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.edit(&c)
			if _, err := NewAllocator(c, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestCameraNetworkAllocatorLifecycle(t *testing.T) {
	cfg := testConfig()
	cfg.Reservations = map[string]netip.Addr{"02:AA:00:00:00:01": ip("10.77.0.100"), mac(500): ip("10.77.0.20")}
	a, clk := newTestAlloc(t, cfg)

	// The reserved pool address is never given to another camera.
	first := lease(t, a, mac(1))
	if first != ip("10.77.0.101") {
		t.Fatalf("first lease %v, want 10.77.0.101 (.100 is reserved)", first)
	}
	if got := lease(t, a, "02:aa:00:00:00:01"); got != ip("10.77.0.100") {
		t.Fatalf("reserved camera got %v, want 10.77.0.100", got)
	}
	if got := lease(t, a, mac(500)); got != ip("10.77.0.20") {
		t.Fatalf("reservation outside the pool: got %v", got)
	}
	// Same MAC, same address; renewal acks.
	if got := lease(t, a, mac(1)); got != first {
		t.Fatalf("second lease %v, want %v", got, first)
	}
	if d, _ := a.Request(mac(1), first, false, false, ""); d != Ack {
		t.Fatalf("renew: %v", d)
	}
	// Authoritative: another client asking for mac(1)'s address gets a NAK,
	// so does an address outside the network or a reserved one.
	for _, tt := range []struct {
		mac string
		ip  netip.Addr
	}{{mac(2), first}, {mac(2), ip("192.168.1.50")}, {mac(2), ip("10.77.0.100")}, {mac(1), ip("10.77.0.150")}} {
		if d, _ := a.Request(tt.mac, tt.ip, false, false, ""); d != Nak {
			t.Errorf("%s asking %v: %v, want nak", tt.mac, tt.ip, d)
		}
	}
	// A client that took another server's offer: ignored.
	if d, _ := a.Request(mac(3), ip("10.77.0.120"), true, false, ""); d != Ignore {
		t.Errorf("selecting another server: %v", d)
	}
	// INIT-REBOOT after the box lost its file: a free pool address is granted.
	if d, ch := a.Request(mac(4), ip("10.77.0.130"), false, false, "cam4"); d != Ack || !ch {
		t.Errorf("init-reboot on a free address: %v changed %v", d, ch)
	}
	// Release frees the address for another camera.
	if !a.Release(mac(1), first) {
		t.Fatal("release: no change")
	}
	if got, _, _ := a.Offer(mac(5), first, ""); got != first {
		t.Errorf("after release, %v offered instead of the requested %v", got, first)
	}
	// An offer not taken up expires; a binding expires after the lease time.
	clk.add(DefaultOfferHold + time.Second)
	if d, _ := a.Request(mac(6), first, false, false, ""); d != Ack {
		t.Errorf("expired offer's address requested by another: %v", d)
	}
	// Decline takes the address out of the pool.
	got := lease(t, a, mac(7))
	a.Decline(mac(7), got)
	if d, _ := a.Request(mac(8), got, false, false, ""); d != Nak {
		t.Errorf("declined address granted: %v", d)
	}
}

func TestCameraNetworkAllocatorPoolFullThenExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.PoolSize = 4
	a, clk := newTestAlloc(t, cfg)
	for i := 0; i < 4; i++ {
		lease(t, a, mac(i))
	}
	if _, _, err := a.Offer(mac(9), netip.Addr{}, ""); err != ErrPoolFull {
		t.Fatalf("fifth camera: %v, want ErrPoolFull", err)
	}
	clk.add(DefaultLeaseTime / 2)
	a.Request(mac(2), ip("10.77.0.102"), false, false, "") // renewed
	clk.add(DefaultLeaseTime/2 + time.Second)
	got, changed, err := a.Offer(mac(9), netip.Addr{}, "")
	if err != nil || !changed {
		t.Fatalf("after expiry: %v %v changed=%v", got, err, changed)
	}
	if got == ip("10.77.0.102") {
		t.Fatal("took the renewed camera's address")
	}
}

// TestCameraNetworkAllocatorFlappingBounded: 200 cameras (new MACs each time) come and
// go on a 64-address pool; the records stay bounded by the pool and every
// camera that asks when an address has expired gets one.
func TestCameraNetworkAllocatorFlappingBounded(t *testing.T) {
	a, clk := newTestAlloc(t, testConfig())
	for round := 0; round < 50; round++ {
		for i := 0; i < 200; i++ {
			m := mac(round*200 + i) // a new MAC every time: the worst case
			got, _, err := a.Offer(m, netip.Addr{}, "flap")
			if err != nil {
				if bound := len(a.Bound()); bound < 64 {
					t.Fatalf("round %d camera %d: %v with only %d bound", round, i, err, bound)
				}
				continue
			}
			if i%3 == 0 {
				a.Request(m, got, true, true, "")
			}
		}
		if n := a.Records(); n > 2*64 {
			t.Fatalf("round %d: %d records, want ≤ %d", round, n, 2*64)
		}
		clk.add(DefaultLeaseTime + time.Second)
	}
	if n := len(a.Leases()); n > 64 {
		t.Fatalf("%d leases on a pool of 64", n)
	}
	if _, _, err := a.Offer(mac(99999), netip.Addr{}, ""); err != nil {
		t.Fatalf("a camera after the flapping: %v", err)
	}
}

func TestCameraNetworkLeaseFileRestore(t *testing.T) {
	dir := t.TempDir()
	f := LeaseFile{Path: filepath.Join(dir, "camnet", "leases.json")}
	a, _ := newTestAlloc(t, testConfig())
	l1 := lease(t, a, mac(1))
	l2 := lease(t, a, mac(2))
	a.Offer(mac(3), netip.Addr{}, "") // offered only: not kept
	if err := f.Save(a.Bound()); err != nil {
		t.Fatal(err)
	}
	// "Power cut": a new allocator, with the clock set back by a year.
	got, err := f.Load()
	if err != nil || len(got) != 2 {
		t.Fatalf("load: %v %v", got, err)
	}
	b, clk := newTestAlloc(t, testConfig())
	clk.add(-365 * 24 * time.Hour)
	b.Restore(append(got, Lease{MAC: "junk", IP: l1}, Lease{MAC: mac(9), IP: ip("8.8.8.8")}))
	if d, _ := b.Request(mac(7), l1, false, false, ""); d != Nak {
		t.Fatalf("restored address granted to another camera: %v", d)
	}
	if d, _ := b.Request(mac(2), l2, false, false, ""); d != Ack {
		t.Fatalf("camera renewing its restored address: %v", d)
	}
	if n := len(b.Bound()); n != 2 {
		t.Fatalf("%d bindings restored, want 2", n)
	}
	for _, bad := range []string{"", "{", `{"version":2,"leases":[]}`, `{"version":1,"leases":[{"ip":"x"}]}`} {
		if _, err := parseLeaseFile([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzLeaseFile: a damaged lease file is an error or leases the allocator
// restores within its bounds, never a panic.
func FuzzLeaseFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"leases":[{"mac":"02:00:00:00:00:01","ip":"10.77.0.100","hostname":"cam"}]}`))
	f.Add([]byte(`{"version":1,"leases":[{"mac":"zz","ip":"10.77.0.1"},{"mac":"02:00:00:00:00:01","ip":"10.77.0.100"},{"mac":"02:00:00:00:00:01","ip":"10.77.0.101"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		leases, err := parseLeaseFile(b)
		if err != nil {
			return
		}
		a, err := NewAllocator(testConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Restore(leases)
		if n := len(a.Bound()); n > 64 {
			t.Fatalf("%d bindings restored on a pool of 64", n)
		}
	})
}
