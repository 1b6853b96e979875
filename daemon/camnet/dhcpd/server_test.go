package dhcpd

import (
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/matthan/matthan/daemon/events"
)

func testServer(t *testing.T) (*Server, *[]events.Event) {
	a, _ := newTestAlloc(t, testConfig())
	var got []events.Event
	s := &Server{Interface: "test0", Alloc: a, HWAddr: net.HardwareAddr{2, 0xb0, 0, 0, 0, 1},
		Events: events.PublisherFunc(func(e events.Event) { got = append(got, e) })}
	return s, &got
}

func hw(s string) net.HardwareAddr { h, _ := net.ParseMAC(s); return h }

func TestCameraNetworkHandleDORA(t *testing.T) {
	s, _ := testServer(t)
	disc, _ := dhcpv4.NewDiscovery(hw(mac(1)), dhcpv4.WithOption(dhcpv4.OptHostName("cam1")))
	offer, dst := s.Handle(disc)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("offer: %v", offer)
	}
	if !dst.IP.Equal(net.IPv4bcast) || dst.Port != 68 {
		t.Errorf("offer goes to %v, want broadcast:68", dst)
	}
	if !offer.ServerIdentifier().Equal(net.ParseIP("10.77.0.1")) || offer.Router() != nil || offer.DNS() != nil {
		t.Errorf("offer options: server %v router %v dns %v", offer.ServerIdentifier(), offer.Router(), offer.DNS())
	}
	if ntp := offer.NTPServers(); len(ntp) != 1 || !ntp[0].Equal(net.ParseIP("10.77.0.1")) {
		t.Errorf("NTP servers %v, want the box", ntp)
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	ack, _ := s.Handle(req)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("ack: %v", ack)
	}
	// Renewal: unicast to the client's address.
	renew, _ := dhcpv4.NewRenewFromAck(ack)
	ack2, dst := s.Handle(renew)
	if ack2 == nil || ack2.MessageType() != dhcpv4.MessageTypeAck || !dst.IP.Equal(ack.YourIPAddr) {
		t.Fatalf("renew: %v to %v", ack2, dst)
	}
	// Another camera asking for that address: NAK, by broadcast.
	other, _ := dhcpv4.New(dhcpv4.WithHwAddr(hw(mac(2))), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ack.YourIPAddr)))
	nak, dst := s.Handle(other)
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak || !dst.IP.Equal(net.IPv4bcast) {
		t.Fatalf("nak: %v to %v", nak, dst)
	}
	// Release.
	rel, _ := dhcpv4.NewReleaseFromACK(ack)
	if r, _ := s.Handle(rel); r != nil {
		t.Fatal("answered a release")
	}
	if n := len(s.Alloc.Bound()); n != 0 {
		t.Fatalf("%d bindings after release", n)
	}
	// The box's own probe and relayed messages are not answered.
	own, _ := dhcpv4.NewDiscovery(s.HWAddr)
	relayed, _ := dhcpv4.NewDiscovery(hw(mac(3)), dhcpv4.WithGatewayIP(net.ParseIP("10.1.1.1")))
	for _, m := range []*dhcpv4.DHCPv4{own, relayed} {
		if r, _ := s.Handle(m); r != nil {
			t.Errorf("answered %v", m.Summary())
		}
	}
}

// TestHandleSecondServer: a REQUEST naming another server raises one
// event, and the box then withholds its NAKs.
func TestCameraNetworkHandleSecondServer(t *testing.T) {
	s, evs := testServer(t)
	for i := 0; i < 3; i++ {
		m, _ := dhcpv4.New(dhcpv4.WithHwAddr(hw(mac(1))), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("192.168.1.1"))),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("192.168.1.33"))))
		if r, _ := s.Handle(m); r != nil {
			t.Fatalf("answered a request for another server: %v", r.Summary())
		}
	}
	if len(*evs) != 1 || (*evs)[0].Type != events.CameraNetworkRogueDHCP {
		t.Fatalf("events %+v, want one %s", *evs, events.CameraNetworkRogueDHCP)
	}
	bad, _ := dhcpv4.New(dhcpv4.WithHwAddr(hw(mac(2))), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("192.168.1.34"))))
	if r, _ := s.Handle(bad); r != nil {
		t.Fatalf("NAK sent while another server is present: %v", r.Summary())
	}
}

// FuzzHandle: any bytes on port 67 parse or are dropped, and never make
// the server panic, answer with an address outside the network, or grow
// its bookkeeping past the pool.
func FuzzHandle(f *testing.F) {
	d, _ := dhcpv4.NewDiscovery(hw(mac(1)), dhcpv4.WithOption(dhcpv4.OptHostName("cam\x00\xff")))
	f.Add(d.ToBytes())
	r, _ := dhcpv4.New(dhcpv4.WithHwAddr(hw(mac(2))), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.77.0.130"))))
	f.Add(r.ToBytes())
	f.Add([]byte{1, 1, 6, 0})
	a, _ := NewAllocator(testConfig(), nil)
	s := &Server{Interface: "fuzz0", Alloc: a}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		resp, _ := s.Handle(m)
		if resp != nil {
			if y := addrOf(resp.YourIPAddr); y.IsValid() && !a.cfg.Prefix.Contains(y) {
				t.Fatalf("offered %v outside the camera network", y)
			}
			if _, err := dhcpv4.FromBytes(resp.ToBytes()); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
		}
		if n := a.Records(); n > 2*(64) {
			t.Fatalf("%d records", n)
		}
		_ = netip.Addr{}
	})
}
