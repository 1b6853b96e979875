// Command camsim serves simulated RTSP cameras on 127.0.0.1 for tests,
// benchmarks and `make run`: with no flags, cam1…cam4 (main and /sub
// streams) and an H.265 camera at rtsp://127.0.0.1:8554/h265, plus an HTTP
// control endpoint on 127.0.0.1:8555 to inject faults (see hwtest/README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/matthan/matthan/hwtest/camsim"
)

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := run(); err != nil {
		log.Fatal(err) // errors from the camsim package name it already
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8554", "RTSP listen address")
	cameras := flag.Int("cameras", 4, "number of H.264 cameras cam1…camN")
	clips := flag.String("clips", defaultClipsDir(), "folder with the clips made by hwtest/clips/gen.sh (make clips)")
	control := flag.String("control", "127.0.0.1:8555", "HTTP control address for fault injection (empty: none)")
	h265 := flag.String("h265", "", "comma-separated camera numbers whose main stream is the H.265 clip")
	noH265 := flag.Bool("no-h265-camera", false, "do not serve the extra H.265 camera at /h265")
	auth := flag.String("auth", "", "USER:PASSWORD every camera asks for (RTSP basic/digest); empty: none")
	onvifOn := flag.Bool("onvif", false, "give every camera an ONVIF device service (its own HTTP port) behind the -auth login")
	maker := flag.String("onvif-maker", "Hikvision", "maker the ONVIF cameras report")
	model := flag.String("onvif-model", "DS-2CD1023G0-I", "model the ONVIF cameras report")
	skew := flag.Duration("onvif-skew", 0, "the cameras' clock minus the real time (e.g. -3h)")
	onvifAuth := flag.String("onvif-auth", "", "USER:PASSWORD of the ONVIF login when it differs from -auth (RTSP then stays as -auth says)")
	discover := flag.String("discovery", "", "answer WS-Discovery on this interface (\"default\": the default multicast interface); implies -onvif")
	quiet := flag.Bool("quiet", false, "log nothing but errors")
	audio := flag.String("audio", "", "cameras with sound on their main stream, e.g. 1=aac,2=pcma,3=pcmu")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file until exit")
	identityFlag := flag.String("identity", "", "tells this simulator's cameras from another's (serials, WS-Discovery endpoints); with -dhcp default: the interface's MAC")
	dhcpIf := flag.String("dhcp", "", "like a camera at power-on: get an address by DHCP on IFACE first and serve RTSP on it (-listen's port); root")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("camsim: unexpected arguments %q", flag.Args())
	}

	if *dhcpIf != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		l, err := camsim.DHCPLease(ctx, *dhcpIf, "camsim")
		cancel()
		if err != nil {
			return err
		}
		_, port, err := net.SplitHostPort(*listen)
		if err != nil {
			return fmt.Errorf("camsim: -listen %q: %w", *listen, err)
		}
		*listen = net.JoinHostPort(l.Addr.Addr().String(), port)
		if *identityFlag == "" {
			if ifi, err := net.InterfaceByName(*dhcpIf); err == nil {
				*identityFlag = strings.ReplaceAll(ifi.HardwareAddr.String(), ":", "") + "-"
			}
		}
		log.Printf("camsim: lease %v on %s from %v (time servers %v)", l.Addr, *dhcpIf, l.Server, l.NTP)
	}
	cfg := camsim.Config{Listen: *listen, Cameras: *cameras, ClipsDir: *clips, NoH265Camera: *noH265, Logf: log.Printf}
	if *quiet {
		cfg.Logf = nil
	}
	if *auth != "" {
		user, pass, ok := strings.Cut(*auth, ":")
		if !ok || user == "" {
			return fmt.Errorf("camsim: -auth %q: want USER:PASSWORD", *auth)
		}
		cfg.User, cfg.Password = user, pass
	}
	if *audio != "" {
		cfg.Audio = map[int]camsim.AudioCodec{}
		for _, f := range strings.Split(*audio, ",") {
			n, codec, ok := strings.Cut(strings.TrimSpace(f), "=")
			k, err := strconv.Atoi(n)
			if !ok || err != nil || camsim.AudioClipFile(camsim.AudioCodec(codec)) == "" {
				return fmt.Errorf("camsim: -audio: %q: want N=aac|pcma|pcmu", f)
			}
			cfg.Audio[k] = camsim.AudioCodec(codec)
		}
	}
	if *discover != "" || *onvifAuth != "" {
		*onvifOn = true
	}
	if *onvifOn {
		cfg.ONVIF = &camsim.ONVIFConfig{Identity: *identityFlag, Maker: *maker, Model: *model, Skew: *skew, Discovery: *discover != ""}
		if *onvifAuth != "" {
			user, pass, ok := strings.Cut(*onvifAuth, ":")
			if !ok || user == "" {
				return fmt.Errorf("camsim: -onvif-auth %q: want USER:PASSWORD", *onvifAuth)
			}
			cfg.ONVIF.User, cfg.ONVIF.Password = user, pass
			*onvifOn = true
		}
		if *discover != "default" {
			cfg.ONVIF.DiscoveryInterface = *discover
		}
	}
	if *h265 != "" {
		for _, f := range strings.Split(*h265, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("camsim: -h265: %q is not a camera number", f)
			}
			cfg.H265Cameras = append(cfg.H265Cameras, k)
		}
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("camsim: cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("camsim: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	sim, err := camsim.Start(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()
	debug.FreeOSMemory() // the clip files read at start are garbage now

	errc := make(chan error, 1)
	controlAddr := "none"
	if *control != "" {
		ln, err := net.Listen("tcp", *control)
		if err != nil {
			return fmt.Errorf("camsim: control endpoint: %w", err)
		}
		srv := &http.Server{Handler: sim.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- srv.Serve(ln) }()
		defer srv.Close()
		controlAddr = ln.Addr().String()
		log.Printf("camsim: control endpoint on http://%s", controlAddr)
	}
	if !*quiet {
		for _, c := range sim.Cameras() {
			if c.DeviceURL() != "" {
				log.Printf("camsim: %s (%s) %s %s %s", c.Name(), c.Codec(), c.URL(), c.SubURL(), c.DeviceURL())
			} else {
				log.Printf("camsim: %s (%s) %s %s", c.Name(), c.Codec(), c.URL(), c.SubURL())
			}
		}
	}
	// A line tests wait for, with the addresses (useful with port 0).
	log.Printf("camsim: ready rtsp=%s control=%s", sim.Addr(), controlAddr)

	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("camsim: control endpoint: %w", err)
	}
}

// defaultClipsDir is out/clips under the repository root (found from the
// working directory upwards), or $MATTHAN_OUT/clips.
func defaultClipsDir() string {
	if d := os.Getenv("MATTHAN_OUT"); d != "" {
		return filepath.Join(d, "clips")
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("out", "clips")
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "out", "clips")
		}
		if filepath.Dir(d) == d {
			return filepath.Join("out", "clips")
		}
	}
}
