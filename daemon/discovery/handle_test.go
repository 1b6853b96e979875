package discovery

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/camnet"
)

func newTest(max int) (*Discoverer, *[]Found) {
	var calls []Found
	d := &Discoverer{cfg: Config{Max: max, Logf: func(string, ...any) {}, OnFind: func(f Found) { calls = append(calls, f) }},
		found: map[string]*Found{}, probes: map[string]bool{"uuid:ours": true}}
	return d, &calls
}

func hello(ep string, xaddrs ...string) Message {
	return Message{Kind: KindHello, Matches: []Match{{Endpoint: ep, XAddrs: xaddrs}}}
}

func TestHandle(t *testing.T) {
	cam := netip.MustParseAddr("10.0.0.5")
	now := time.Now()
	for _, tt := range []struct {
		name   string
		m      Message
		from   netip.Addr
		device string // "" : nothing kept
	}{
		{"hello", hello("e1", "http://10.0.0.5/onvif/device_service"), cam, "http://10.0.0.5/onvif/device_service"},
		{"zero address keeps sender", hello("e1", "http://0.0.0.0:8000/onvif/device_service"), cam, "http://10.0.0.5:8000/onvif/device_service"},
		{"address on another network ignored", hello("e1", "http://192.168.1.64/onvif/device_service", "http://10.0.0.5:81/onvif/device_service"), cam, "http://10.0.0.5:81/onvif/device_service"},
		{"only another host", hello("e1", "http://10.0.0.9/onvif/device_service"), cam, ""},
		{"public sender refused", hello("e1", "http://8.8.8.8/onvif/device_service"), netip.MustParseAddr("8.8.8.8"), ""},
		{"loopback refused", hello("e1", "http://127.0.0.1/onvif/device_service"), netip.MustParseAddr("127.0.0.1"), ""},
		{"not http", hello("e1", "ftp://10.0.0.5/x"), cam, ""},
		{"credentials dropped", hello("e1", "http://u:p@10.0.0.5/x"), cam, "http://10.0.0.5/x"},
		{"probe match to our probe", Message{Kind: KindProbeMatches, RelatesTo: "uuid:ours", Matches: []Match{{Endpoint: "e1", XAddrs: []string{"http://10.0.0.5/x"}}}}, cam, "http://10.0.0.5/x"},
		{"probe match to another's probe", Message{Kind: KindProbeMatches, RelatesTo: "uuid:theirs", Matches: []Match{{Endpoint: "e1", XAddrs: []string{"http://10.0.0.5/x"}}}}, cam, ""},
	} {
		d, calls := newTest(0)
		d.cfg.Max = 10
		d.handle(tt.m, tt.from, now)
		f := d.Found()
		if tt.device == "" {
			if len(f) != 0 || len(*calls) != 0 {
				t.Errorf("%s: kept %+v", tt.name, f)
			}
			continue
		}
		if len(f) != 1 || f[0].Device != tt.device || len(*calls) != 1 {
			t.Errorf("%s: found %+v, want device %s", tt.name, f, tt.device)
		}
	}
}

func TestByeOnlyFromItsAddress(t *testing.T) {
	d, calls := newTest(10)
	cam := netip.MustParseAddr("10.0.0.5")
	d.handle(hello("e1", "http://10.0.0.5/x"), cam, time.Now())
	d.handle(Message{Kind: KindBye, Matches: []Match{{Endpoint: "e1"}}}, netip.MustParseAddr("10.0.0.6"), time.Now())
	if d.Found()[0].Gone {
		t.Fatal("a Bye from another address took the camera away")
	}
	d.handle(Message{Kind: KindBye, Matches: []Match{{Endpoint: "e1"}}}, cam, time.Now())
	if !d.Found()[0].Gone || len(*calls) != 2 {
		t.Fatalf("Bye: %+v, %d calls", d.Found(), len(*calls))
	}
	// Seen again: back, one more call; seen again unchanged: no call.
	d.handle(hello("e1", "http://10.0.0.5/x"), cam, time.Now())
	d.handle(hello("e1", "http://10.0.0.5/x"), cam, time.Now())
	if d.Found()[0].Gone || len(*calls) != 3 {
		t.Fatalf("back: %+v, %d calls", d.Found(), len(*calls))
	}
}

// 200 cameras flapping (Hello, Bye, Hello with new addresses) keep the
// table bounded.
func TestCameraNetworkFlappingBounded(t *testing.T) {
	d, _ := newTest(64)
	d.cfg.Policy = camnet.Policy{}
	now := time.Now()
	for round := 0; round < 20; round++ {
		for i := 0; i < 200; i++ {
			a := netip.AddrFrom4([4]byte{10, 1, byte(round), byte(i)})
			ep := fmt.Sprintf("urn:uuid:%d-%d", i, round%3)
			now = now.Add(time.Millisecond)
			d.handle(hello(ep, "http://"+a.String()+"/x"), a, now)
			d.handle(Message{Kind: KindBye, Matches: []Match{{Endpoint: ep}}}, a, now)
		}
	}
	if n := len(d.Found()); n > 64 {
		t.Fatalf("%d remembered, max 64", n)
	}
	if len(d.probes) > 65 {
		t.Fatalf("probe ids %d", len(d.probes))
	}
}
