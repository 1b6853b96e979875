package onvif_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/onvif"
	"github.com/matthan/matthan/hwtest/camsim"
)

var loopback = camnet.Policy{AllowLoopback: true}

func serve(t *testing.T, d *camsim.Device) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/onvif/", d)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/onvif/device_service"
}

func device() *camsim.Device {
	return &camsim.Device{Maker: "Dahua", Model: "IPC-HFW1230S", Firmware: "2.800", Serial: "7A0123PAG00001",
		User: "admin", Password: "L2A3B4C5", MainURI: "rtsp://127.0.0.1:8554/cam1", SubURI: "rtsp://127.0.0.1:8554/cam1/sub"}
}

// The whole identification against the simulated camera's device service,
// in each way real cameras differ.
func TestCameraNetworkONVIFIdentify(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(*camsim.Device)
	}{
		{"ws-token", func(*camsim.Device) {}},
		{"clock-ahead-1h", func(d *camsim.Device) { d.Skew = time.Hour }},
		{"clock-behind-3y", func(d *camsim.Device) { d.Skew = -3 * 365 * 24 * time.Hour }},
		{"http-digest", func(d *camsim.Device) { d.HTTPDigest = true }},
		{"zero-addresses", func(d *camsim.Device) { d.ZeroAddrs = true }},
		{"other-prefixes", func(d *camsim.Device) { d.AltPrefixes = true }},
		{"one-profile", func(d *camsim.Device) { d.SubURI = "" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := device()
			tt.setup(d)
			c := &onvif.Client{Device: serve(t, d), User: "admin", Password: "L2A3B4C5", Policy: loopback}
			in, err := c.Identify(context.Background())
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			if in.Manufacturer != "Dahua" || in.Model != "IPC-HFW1230S" || in.Serial != "7A0123PAG00001" || in.Firmware != "2.800" {
				t.Errorf("device information %+v", in.DeviceInformation)
			}
			if in.MainURI != "rtsp://127.0.0.1:8554/cam1" {
				t.Errorf("main %q", in.MainURI)
			}
			wantSub := d.SubURI
			if in.SubURI != wantSub {
				t.Errorf("sub %q, want %q", in.SubURI, wantSub)
			}
			if diff := in.ClockOffset - d.Skew; diff > 2*time.Second || diff < -2*time.Second {
				t.Errorf("clock offset %v, camera skew %v", in.ClockOffset, d.Skew)
			}
			if in.Main.Width != 1280 {
				t.Errorf("main profile %+v", in.Main)
			}
			if d.Failures() != 0 {
				t.Errorf("camera counted %d failed logins", d.Failures())
			}
		})
	}
}

// One refused login and the client stops: no second try reaches the camera.
func TestCameraNetworkONVIFWrongPasswordOnce(t *testing.T) {
	for _, digest := range []bool{false, true} {
		d := device()
		d.HTTPDigest = digest
		c := &onvif.Client{Device: serve(t, d), User: "admin", Password: "wrong", Policy: loopback}
		_, err := c.Identify(context.Background())
		if !errors.Is(err, onvif.ErrWrongPassword) || onvif.Problem(err) != "wrong_password" {
			t.Fatalf("digest=%v: Identify: %v, want wrong password", digest, err)
		}
		calls := d.Calls("GetProfiles") + d.Calls("GetCapabilities") + d.Calls("GetServices") + d.Calls("GetDeviceInformation")
		for i := 0; i < 5; i++ {
			if _, err := c.Profiles(context.Background()); !errors.Is(err, onvif.ErrWrongPassword) {
				t.Fatalf("later call: %v", err)
			}
		}
		if d.Failures() != 1 {
			t.Errorf("digest=%v: camera saw %d failed logins, want 1", digest, d.Failures())
		}
		if n := d.Calls("GetProfiles") + d.Calls("GetCapabilities") + d.Calls("GetServices") + d.Calls("GetDeviceInformation"); n != calls {
			t.Errorf("digest=%v: %d more calls reached the camera after the refusal", digest, n-calls)
		}
	}
}

// A token computed from the box's clock fails on a skewed camera: the
// offset is what makes the login work.
func TestCameraNetworkONVIFTokenUsesCameraClock(t *testing.T) {
	d := device()
	d.Skew = 2 * time.Hour
	c := &onvif.Client{Device: serve(t, d), User: "admin", Password: "L2A3B4C5", Policy: loopback}
	// No GetSystemDateAndTime first: the token carries the box's time.
	if _, err := c.DeviceInformation(context.Background()); !errors.Is(err, onvif.ErrWrongPassword) {
		t.Fatalf("without the camera's clock: %v, want refused", err)
	}
	c2 := &onvif.Client{Device: c.Device, User: "admin", Password: "L2A3B4C5", Policy: loopback}
	d.Lockout = 100
	if _, err := c2.SystemDateAndTime(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.DeviceInformation(context.Background()); err != nil {
		t.Fatalf("with the camera's clock: %v", err)
	}
}

// Garbage, a huge body and a slow-loris each end in a clear, bounded
// error, while a good camera asked at the same time answers.
func TestCameraNetworkONVIFBadCameras(t *testing.T) {
	good := device()
	goodURL := serve(t, good)
	for _, tt := range []struct{ fault, problem string }{
		{"garbage", "no_onvif"},
		{"huge", "too_large"},
		{"slow", "timeout"},
	} {
		t.Run(tt.fault, func(t *testing.T) {
			bad := device()
			bad.SetFault(tt.fault)
			c := &onvif.Client{Device: serve(t, bad), User: "admin", Password: "x", Policy: loopback, Timeout: 2 * time.Second}
			var wg sync.WaitGroup
			var goodErr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := &onvif.Client{Device: goodURL, User: "admin", Password: "L2A3B4C5", Policy: loopback}
				_, goodErr = g.Identify(context.Background())
			}()
			start := time.Now()
			_, err := c.Identify(context.Background())
			if p := onvif.Problem(err); p != tt.problem {
				t.Errorf("problem %q (%v), want %q", p, err, tt.problem)
			}
			if el := time.Since(start); el > 30*time.Second {
				t.Errorf("took %v", el)
			}
			if err != nil && strings.Contains(err.Error(), "not xml") {
				t.Errorf("error quotes the camera: %v", err)
			}
			wg.Wait()
			if goodErr != nil {
				t.Errorf("good camera: %v", goodErr)
			}
		})
	}
}

// Addresses outside the camera network are never dialled, including a
// stream address a camera gives.
func TestONVIFPolicy(t *testing.T) {
	c := &onvif.Client{Device: "http://8.8.8.8/onvif/device_service"}
	_, err := c.Identify(context.Background())
	if onvif.Problem(err) != "not_allowed" {
		t.Fatalf("public address: %v", err)
	}
	d := device()
	c = &onvif.Client{Device: serve(t, d), User: "admin", Password: "L2A3B4C5"} // loopback not allowed
	if _, err := c.Identify(context.Background()); onvif.Problem(err) != "not_allowed" {
		t.Fatalf("loopback refused by default: %v", err)
	}
}

func TestCameraNetworkONVIFSetUser(t *testing.T) {
	d := device()
	c := &onvif.Client{Device: serve(t, d), User: "admin", Password: "L2A3B4C5", Policy: loopback}
	if _, err := c.SystemDateAndTime(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUser(context.Background(), "admin", "NewSecret9", ""); err != nil {
		t.Fatal(err)
	}
	if d.CurrentPassword() != "NewSecret9" {
		t.Fatalf("password not changed")
	}
	c2 := &onvif.Client{Device: c.Device, User: "admin", Password: "NewSecret9", Policy: loopback}
	if _, err := c2.Identify(context.Background()); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

func TestKnownStreams(t *testing.T) {
	for _, tt := range []struct{ maker, main, sub string }{
		{"HIKVISION", "rtsp://10.0.0.5/Streaming/Channels/101", "rtsp://10.0.0.5/Streaming/Channels/102"},
		{"Imou", "rtsp://10.0.0.5/cam/realmonitor?channel=1&subtype=0", "rtsp://10.0.0.5/cam/realmonitor?channel=1&subtype=1"},
		{"KBVision", "rtsp://10.0.0.5/cam/realmonitor?channel=1&subtype=0", "rtsp://10.0.0.5/cam/realmonitor?channel=1&subtype=1"},
		{"EZVIZ", "rtsp://10.0.0.5/h264/ch1/main/av_stream", "rtsp://10.0.0.5/h264/ch1/sub/av_stream"},
	} {
		m, s, err := onvif.KnownStreams(tt.maker, "10.0.0.5")
		if err != nil || m != tt.main || s != tt.sub {
			t.Errorf("%s: %q %q %v", tt.maker, m, s, err)
		}
	}
	if _, _, err := onvif.KnownStreams("Acme", "10.0.0.5"); !errors.Is(err, onvif.ErrUnknownMaker) {
		t.Errorf("unknown maker: %v", err)
	}
	if got := onvif.WithCredentials("rtsp://10.0.0.5/Streaming/Channels/101", "admin", "p@ss:w/rd"); got != "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.5/Streaming/Channels/101" {
		t.Errorf("WithCredentials: %q", got)
	}
}

func TestMainAndSub(t *testing.T) {
	ps := []onvif.Profile{{Token: "s", Width: 640, Height: 360}, {Token: "m", Width: 1920, Height: 1080}, {Token: "t", Width: 352, Height: 288}}
	m, s, ok := onvif.MainAndSub(ps)
	if m.Token != "m" || !ok || s.Token != "s" {
		t.Errorf("main %s sub %s %v", m.Token, s.Token, ok)
	}
	if _, _, ok := onvif.MainAndSub(ps[:1]); ok {
		t.Errorf("one profile has a sub")
	}
}

func TestSubFromMain(t *testing.T) {
	for _, tt := range []struct{ main, sub string }{
		{"rtsp://admin:pw@10.0.0.5:554/Streaming/Channels/101", "rtsp://admin:pw@10.0.0.5:554/Streaming/Channels/102"},
		{"rtsp://10.0.0.5/Streaming/Channels/201", "rtsp://10.0.0.5/Streaming/Channels/202"},
		{"rtsp://admin:pw@10.0.0.6/cam/realmonitor?channel=1&subtype=0", "rtsp://admin:pw@10.0.0.6/cam/realmonitor?channel=1&subtype=1"},
		{"rtsp://10.0.0.7/h264/ch1/main/av_stream", "rtsp://10.0.0.7/h264/ch1/sub/av_stream"},
		{"rtsp://10.0.0.8/live", ""},
		{"rtsp://10.0.0.6/cam/realmonitor?channel=1&subtype=1", ""},
		{"http://10.0.0.5/Streaming/Channels/101", ""},
	} {
		got, ok := onvif.SubFromMain(tt.main)
		if got != tt.sub || ok != (tt.sub != "") {
			t.Errorf("SubFromMain(%s) = %q %v, want %q", tt.main, got, ok, tt.sub)
		}
	}
}
