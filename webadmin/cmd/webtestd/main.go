// Command webtestd runs matthand's core and its admin page — the same
// constructor as matthand (webadmin/box over daemon/app: RTSP ingest, the
// fan-out, motion, the recorder and segment store, the live hub, the bleve
// event index) — for webadmin's browser tests and benchmarks, with test
// conveniences: shorter segments, cameras named "Camera N", a fake sysfs
// for USB disks, a test's fake init (-init-socket, with the release and
// update keys it trusts) for firmware updates. It listens on 127.0.0.1
// only: HTTPS on -listen, and a plain HTTP listener that redirects to it
// on -http. It prints "READY <url>" once serving.
//
//	webtestd -data DIR -camera cam1=rtsp://127.0.0.1:8554/cam1 ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/app"
	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/discovery"
	"github.com/matthan/matthan/daemon/disks"
	"github.com/matthan/matthan/daemon/pairing"
	"github.com/matthan/matthan/webadmin"
	"github.com/matthan/matthan/webadmin/box"
)

type cameraFlags []string

func (c *cameraFlags) String() string     { return strings.Join(*c, ",") }
func (c *cameraFlags) Set(v string) error { *c = append(*c, v); return nil }

func main() {
	if err := run(); err != nil {
		log.Fatalf("webtestd: %v", err)
	}
}

func run() error {
	data := flag.String("data", "", "data directory (accounts, recordings, index, keys)")
	listen := flag.String("listen", "127.0.0.1:8443", "HTTPS listen address")
	plain := flag.String("http", "127.0.0.1:8080", "HTTP listen address that redirects to HTTPS (empty: none)")
	segDur := flag.Duration("segment", 10*time.Second, "segment duration")
	withMotion := flag.Bool("motion", true, "run motion detection (events for search)")
	subStreams := flag.Bool("sub", true, "also pull each camera's URL/sub stream for the live wall")
	usbDisks := flag.String("usb-disks", "", "a fake sysfs tree (daemon/disks/testdata's layout: sys/block, dev, mountinfo) whose USB disks the system page shows; preparing one is simulated (no root), recording goes to DATA/usbdisk")
	rtcUDP := flag.String("webrtc-udp", "127.0.0.1:0", "UDP address of the live view over WebRTC (off: none, the page uses MSE)")
	var cams cameraFlags
	flag.Var(&cams, "camera", "NAME=RTSP_URL (repeatable)")
	loopback := flag.Bool("allow-loopback-cameras", false, "allow camera URLs on 127.0.0.1 (camsim)")
	var found cameraFlags
	flag.Var(&found, "discovered", "ONVIF device URL of a camera that WS-Discovery reports (repeatable; stands in for discovery on a camera network)")
	initSocket := flag.String("init-socket", "", "init's control socket (a test's fake init: the log page and firmware updates)")
	release := flag.String("release", "", "the running release (release.json) for firmware updates (with -init-socket)")
	updateKeys := flag.String("update-keys", "", "the public keys firmware bundles must be signed with (with -init-socket)")
	flag.Parse()
	if *data == "" {
		return errors.New("-data is required")
	}
	for _, a := range []string{*listen, *plain} {
		if a == "" {
			continue
		}
		if h, _, err := net.SplitHostPort(a); err != nil || h != "127.0.0.1" {
			return fmt.Errorf("listen address %q: must be 127.0.0.1:PORT", a)
		}
	}
	args := []string{"-data", *data, "-listen-tls", *listen, "-min-free-mb", "64", "-webrtc-udp", *rtcUDP}
	if *plain != "" {
		args = append(args, "-listen", *plain)
	}
	if *loopback {
		args = append(args, "-allow-loopback-cameras")
	}
	if !*withMotion {
		args = append(args, "-no-motion")
	}
	var names []string
	for _, c := range cams {
		name, url, ok := strings.Cut(c, "=")
		if !ok {
			return fmt.Errorf("-camera %q: want NAME=URL", c)
		}
		if *subStreams {
			c += "," + url + "/sub"
		}
		args = append(args, "-camera", c)
		names = append(names, name)
	}
	cfg, err := config.FromArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		<-ctx.Done()
		// A test server must go when told, whatever a part is waiting for.
		time.AfterFunc(8*time.Second, func() {
			fmt.Fprintln(os.Stderr, "webtestd: shutdown took over 8 s; exiting")
			os.Exit(1)
		})
	}()
	return box.RunWith(ctx, cfg, logger, box.Options{
		Console: os.Stderr, BoxName: "matthan-3456", Version: "webtestd", NoPlainHTTP: *plain == "",
		InitSocket: *initSocket, ReleaseFile: *release, UpdateKeys: *updateKeys,
		Core:  app.Options{SegmentDuration: *segDur, NoSubStreams: !*subStreams},
		Disks: fakeDisks(*usbDisks, *data),
		Seed: func(core *app.Core, _ *webadmin.Server) error {
			if len(found) > 0 && core.Pairing != nil {
				go reportFound(ctx, core.Pairing, found)
			}
			for i, n := range names { // first start: test names and retention
				if r, ok := core.Records.Get(n); ok && r.Name == n {
					r.Name, r.RetentionDays = fmt.Sprintf("Camera %d", i+1), 14
					if err := core.Records.Put(r); err != nil {
						return err
					}
				}
			}
			return nil
		},
		Ready: func(url string) { fmt.Printf("READY %s\n", url) },
	})
}

// reportFound tells the pairing, every half second, that the cameras at
// these ONVIF device addresses are on the network, as WS-Discovery would
// (the pairing lists them only while it is open).
func reportFound(ctx context.Context, p *pairing.Manager, urls []string) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		for i, u := range urls {
			p.Found(discovery.Found{Endpoint: "urn:uuid:webtestd-" + u, Addr: netip.MustParseAddr("127.0.0.1"), Device: u,
				MAC: fmt.Sprintf("02:00:00:00:e2:%02x", i+1), Last: time.Now()})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fakeDisks watches the USB disks of a fake sysfs tree: formatting and
// mounting are simulated, and the "disk" is a folder under data that a
// store is opened on and attached to the card's, as on the box.
func fakeDisks(tree, data string) *disks.Options {
	if tree == "" {
		return nil
	}
	return &disks.Options{
		Sys:      disks.Sys{Block: filepath.Join(tree, "sys", "block"), Dev: filepath.Join(tree, "dev"), MountInfo: filepath.Join(tree, "mountinfo")},
		MountDir: filepath.Join(data, "usbdisk"), Interval: time.Second, StateFile: filepath.Join(data, "recording-disk.json"),
		Format:  func(_ context.Context, d disks.Disk) (string, error) { return d.Dev + "1", nil },
		Mount:   func(_ context.Context, _, dir string) error { return os.MkdirAll(dir, 0o755) },
		Unmount: func(string) error { return nil },
		SMART:   func(string) (string, error) { return disks.SMARTPassed, nil },
	}
}
