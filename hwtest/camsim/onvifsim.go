package camsim

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/discovery"
)

// ONVIFConfig gives every camera of a Sim an ONVIF device service (its
// own HTTP port on the RTSP listen host) and, optionally, a WS-Discovery
// responder for them all.
type ONVIFConfig struct {
	// Maker and Model every camera reports (default "Hikvision",
	// "DS-2CD1023G0-I"); the serial is SIM-<name>.
	Maker, Model string
	// Skew is every camera's clock minus the real time.
	Skew time.Duration
	// User and Password are the ONVIF login (default: Config's RTSP ones).
	User, Password string
	// HTTPDigest, ZeroAddrs, AltPrefixes: see Device.
	HTTPDigest, ZeroAddrs, AltPrefixes bool
	// Identity tells apart the cameras of several simulators (one per
	// network namespace): it goes into the serial numbers
	// (SIM-<Identity><name>) and the WS-Discovery endpoints.
	Identity string
	// Discovery starts a WS-Discovery responder on DiscoveryInterface
	// ("" : the default multicast interface).
	Discovery          bool
	DiscoveryInterface string
}

// startONVIF serves a Device per camera.
func (s *Sim) startONVIF() error {
	oc := s.cfg.ONVIF
	if oc.Maker == "" {
		oc.Maker, oc.Model = "Hikvision", "DS-2CD1023G0-I"
	}
	if oc.User == "" {
		oc.User, oc.Password = s.cfg.User, s.cfg.Password
	}
	host, _, err := net.SplitHostPort(s.addr)
	if err != nil {
		return fmt.Errorf("camsim: onvif: %w", err)
	}
	var matches []discovery.Match
	for i, cam := range s.cameras {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return fmt.Errorf("camsim: onvif listen: %w", err)
		}
		cam.dev = &Device{Maker: oc.Maker, Model: oc.Model, Firmware: "V5.5.0 build 200101", Serial: "SIM-" + oc.Identity + cam.name,
			Skew: oc.Skew, User: oc.User, Password: oc.Password, HTTPDigest: oc.HTTPDigest, ZeroAddrs: oc.ZeroAddrs,
			AltPrefixes: oc.AltPrefixes, MainURI: cam.URL(), SubURI: cam.SubURL()}
		mux := http.NewServeMux()
		mux.Handle("/onvif/", cam.dev)
		cam.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		cam.devURL = "http://" + ln.Addr().String() + "/onvif/device_service"
		go cam.httpSrv.Serve(ln)
		cam.endpoint = fmt.Sprintf("urn:uuid:5ea1c0de-0000-4000-8000-%012d", i+1)
		if oc.Identity != "" {
			sum := sha256.Sum256([]byte(oc.Identity + cam.name))
			cam.endpoint = fmt.Sprintf("urn:uuid:5ea1c0de-%x-4%x-8%x-%x", sum[0:2], sum[2:4], sum[4:6], sum[6:12])
		}
		matches = append(matches, cam.Match())
	}
	if oc.Discovery {
		r, err := StartResponder(oc.DiscoveryInterface, matches)
		if err != nil {
			return err
		}
		s.responder = r
	}
	return nil
}

func (s *Sim) stopONVIF() {
	if s.responder != nil {
		s.responder.Close()
	}
	for _, cam := range s.cameras {
		if cam.httpSrv != nil {
			cam.httpSrv.Close()
		}
	}
}

// Responder is the WS-Discovery responder (nil unless ONVIF.Discovery).
func (s *Sim) Responder() *Responder { return s.responder }

// ONVIF is the camera's ONVIF device (nil unless Config.ONVIF).
func (c *Camera) ONVIF() *Device { return c.dev }

// DeviceURL is the camera's ONVIF device service address ("" without ONVIF).
func (c *Camera) DeviceURL() string { return c.devURL }

// Match is how the camera answers a WS-Discovery probe.
func (c *Camera) Match() discovery.Match {
	if c.dev == nil {
		return discovery.Match{}
	}
	return discovery.Match{Endpoint: c.endpoint, Types: []string{discovery.TypeNVT},
		Scopes: []string{"onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/name/" + strings.ReplaceAll(c.dev.Maker, " ", "%20"),
			"onvif://www.onvif.org/hardware/" + c.dev.Model},
		XAddrs: []string{c.devURL}}
}
