package camsim

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/onvif"
)

// TestCameraNetworkSimONVIF: every simulated camera has an ONVIF device
// service that gives the box its own RTSP streams, behind the same login
// as RTSP, with a skewed clock; the sub stream it names plays.
func TestCameraNetworkSimONVIF(t *testing.T) {
	sim, err := Start(Config{Listen: "127.0.0.1:0", Cameras: 2, NoH265Camera: true, ClipsDir: clipsDir(t), User: "admin", Password: "Ab12345",
		ONVIF: &ONVIFConfig{Maker: "KBVision", Model: "KX-A2111N2", Skew: -90 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cam := sim.Camera("cam2")
	c := &onvif.Client{Device: cam.DeviceURL(), User: "admin", Password: "Ab12345", Policy: camnet.Policy{AllowLoopback: true}}
	in, err := c.Identify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if in.MainURI != cam.URL() || in.SubURI != cam.SubURL() || in.Manufacturer != "KBVision" || in.Serial != "SIM-cam2" {
		t.Errorf("identified %+v", in)
	}
	if d := in.ClockOffset + 90*time.Minute; d > 2*time.Second || d < -2*time.Second {
		t.Errorf("clock offset %v", in.ClockOffset)
	}
	if m := cam.Match(); m.Endpoint == "" || m.XAddrs[0] != cam.DeviceURL() || m.Endpoint == sim.Camera("cam1").Match().Endpoint {
		t.Errorf("discovery match %+v", m)
	}
	u, _ := url.Parse(onvif.WithCredentials(in.SubURI, "admin", "Ab12345"))
	r, err := dial(u.String())
	if err != nil {
		t.Fatalf("sub stream: %v", err)
	}
	defer r.c.Close()
	time.Sleep(300 * time.Millisecond)
	if len(r.packets(time.Time{})) == 0 {
		t.Error("no packets on the sub stream")
	}
}
