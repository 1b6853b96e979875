package discovery_test

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/matthan/matthan/daemon/discovery"
	"github.com/matthan/matthan/hwtest/camsim"
	"github.com/matthan/matthan/hwtest/testenv"
)

func TestMessagesRoundTrip(t *testing.T) {
	m := discovery.Match{Endpoint: "urn:uuid:1", Types: []string{discovery.TypeNVT},
		Scopes: []string{"onvif://www.onvif.org/name/HIKVISION", "onvif://www.onvif.org/hardware/DS-2CD1023G0-I"},
		XAddrs: []string{"http://10.0.0.5/onvif/device_service", "http://[fe80::1]/onvif/device_service"}}
	for _, tt := range []struct {
		name, kind string
		b          []byte
		matches    int
	}{
		{"probe", discovery.KindProbe, discovery.Probe("uuid:p"), 0},
		{"probe-matches", discovery.KindProbeMatches, discovery.ProbeMatches("uuid:p", m), 1},
		{"hello", discovery.KindHello, discovery.Hello(m), 1},
		{"bye", discovery.KindBye, discovery.Bye(m), 1},
	} {
		got, err := discovery.Parse(tt.b)
		if err != nil || got.Kind != tt.kind || len(got.Matches) != tt.matches {
			t.Errorf("%s: %+v %v", tt.name, got, err)
			continue
		}
		if tt.kind == discovery.KindProbeMatches && (got.RelatesTo != "uuid:p" || got.Matches[0].Scope("hardware") != "DS-2CD1023G0-I" || len(got.Matches[0].XAddrs) != 2) {
			t.Errorf("%s: %+v", tt.name, got)
		}
	}
}

// A real camera's reply, with the prefixes a Hikvision uses (SOAP-ENV,
// wsa, d) and extra headers.
func TestParseOtherPrefixes(t *testing.T) {
	b := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<env:Header><wsadis:MessageID>urn:uuid:abc</wsadis:MessageID><wsadis:RelatesTo>uuid:p1</wsadis:RelatesTo><wsadis:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To><wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action><d:AppSequence InstanceId="1" MessageNumber="3"/></env:Header>
<env:Body><d:ProbeMatches><d:ProbeMatch><wsadis:EndpointReference><wsadis:Address>urn:uuid:3fa1fe68-b915-4053-a3e1-ac1f6b8f7c5a</wsadis:Address></wsadis:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/HIKVISION%20DS-2CD onvif://www.onvif.org/hardware/DS-2CD1023G0-I</d:Scopes>
<d:XAddrs>http://192.168.1.64/onvif/device_service</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>`)
	m, err := discovery.Parse(b)
	if err != nil || m.Kind != discovery.KindProbeMatches || m.RelatesTo != "uuid:p1" || len(m.Matches) != 1 {
		t.Fatalf("%+v %v", m, err)
	}
	if got := m.Matches[0]; got.Endpoint != "urn:uuid:3fa1fe68-b915-4053-a3e1-ac1f6b8f7c5a" || got.Scope("name") != "HIKVISION DS-2CD" || got.XAddrs[0] != "http://192.168.1.64/onvif/device_service" {
		t.Errorf("%+v", got)
	}
}

func FuzzParse(f *testing.F) {
	m := discovery.Match{Endpoint: "urn:uuid:1", Types: []string{discovery.TypeNVT}, XAddrs: []string{"http://10.0.0.5/x"}}
	f.Add(discovery.Probe("uuid:1"))
	f.Add(discovery.ProbeMatches("uuid:1", m))
	f.Add(discovery.Hello(m))
	f.Add(discovery.Bye(m))
	f.Add([]byte("<Envelope><Body><Hello><EndpointReference><Address>x</Address></EndpointReference></Hello></Body></Envelope>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := discovery.Parse(b)
		if err != nil {
			return
		}
		if len(m.Matches) > 16 {
			t.Fatalf("%d matches", len(m.Matches))
		}
		for _, mm := range m.Matches {
			if mm.Endpoint == "" || len(mm.Endpoint) > 512 || len(mm.XAddrs) > 16 || len(mm.Scopes) > 32 {
				t.Fatalf("unbounded match %q", mm.Endpoint)
			}
		}
	})
}

type fakeLeases map[netip.Addr]discovery.Lease

func (f fakeLeases) LookupIP(ip netip.Addr) (discovery.Lease, bool) {
	l, ok := f[ip]
	return l, ok
}

// Real multicast between two network namespaces joined by a veth pair:
// the box probes on its camera interface, the simulated camera (camsim's
// responder) says Hello and answers; its address is matched with its
// DHCP lease; its Bye is seen.
func TestCameraNetworkDiscoveryMulticast(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "discovery over real multicast needs root (network namespaces and a veth pair)")
	}
	type opened struct {
		d   *discovery.Discoverer
		r   *camsim.Responder
		err error
	}
	var (
		mu    sync.Mutex
		found []discovery.Found
	)
	leases := fakeLeases{netip.MustParseAddr("10.77.0.2"): {MAC: "02:00:00:77:00:02", Hostname: "IPC"}}
	cam := discovery.Match{Endpoint: "urn:uuid:5ea1c0de-0000-4000-8000-000000000001", Types: []string{discovery.TypeNVT},
		Scopes: []string{"onvif://www.onvif.org/name/HIKVISION", "onvif://www.onvif.org/hardware/DS-2CD1023G0-I"},
		XAddrs: []string{"http://10.77.0.2:8080/onvif/device_service", "http://169.254.3.4/onvif/device_service"}}
	ch := make(chan opened, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// Not unlocked: the thread ends with the goroutine (its
		// namespaces live on through the sockets).
		runtime.LockOSThread()
		o := func() opened {
			camNS, err := netns.New()
			if err != nil {
				return opened{err: err}
			}
			defer camNS.Close()
			boxNS, err := netns.New()
			if err != nil {
				return opened{err: err}
			}
			defer boxNS.Close()
			la := netlink.NewLinkAttrs()
			la.Name = "onvif-box"
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "onvif-cam"}); err != nil {
				return opened{err: err}
			}
			peer, err := netlink.LinkByName("onvif-cam")
			if err != nil {
				return opened{err: err}
			}
			if err := netlink.LinkSetNsFd(peer, int(camNS)); err != nil {
				return opened{err: err}
			}
			up := func(name, addr string) error {
				l, err := netlink.LinkByName(name)
				if err != nil {
					return err
				}
				a, _ := netlink.ParseAddr(addr)
				if err := netlink.AddrAdd(l, a); err != nil {
					return err
				}
				return netlink.LinkSetUp(l)
			}
			if err := up("onvif-box", "10.77.0.1/24"); err != nil {
				return opened{err: err}
			}
			d, err := discovery.Listen(discovery.Config{Interface: "onvif-box", Interval: time.Hour, Repeat: 2,
				Leases: leases, OnFind: func(f discovery.Found) {
					mu.Lock()
					found = append(found, f)
					mu.Unlock()
				}})
			if err != nil {
				return opened{err: err}
			}
			if err := netns.Set(camNS); err != nil {
				return opened{err: err}
			}
			if err := up("onvif-cam", "10.77.0.2/24"); err != nil {
				return opened{err: err}
			}
			// The veth takes a moment to carry traffic once up.
			time.Sleep(200 * time.Millisecond)
			r, err := camsim.StartResponder("onvif-cam", []discovery.Match{cam})
			return opened{d: d, r: r, err: err}
		}()
		ch <- o
		<-stop
	}()
	o := <-ch
	if o.err != nil {
		t.Fatalf("namespaces: %v", o.err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(20 * time.Second)
	for o.r.Probes() == 0 || len(o.d.Found()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing found (probes answered %d)", o.r.Probes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := o.d.Found()[0]
	if f.Endpoint != cam.Endpoint || f.Addr.String() != "10.77.0.2" || f.Device != "http://10.77.0.2:8080/onvif/device_service" ||
		f.MAC != "02:00:00:77:00:02" || !f.Leased || f.Hardware != "DS-2CD1023G0-I" || f.Gone {
		t.Errorf("found %+v", f)
	}
	o.r.Close() // Bye
	for !o.d.Found()[0].Gone {
		if time.Now().After(deadline) {
			t.Fatalf("Bye not seen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(found) < 2 || found[len(found)-1].Gone != true {
		t.Errorf("OnFind calls %+v", found)
	}
}
