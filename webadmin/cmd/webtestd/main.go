// Command webtestd runs the admin web page over real parts — RTSP ingest,
// the recorder and segment store, the live hub, the bleve event index — for
// webadmin's browser tests and benchmarks, until the full daemon wires the
// same page. It listens on 127.0.0.1 only: HTTPS on -listen, and a plain
// HTTP listener that redirects to it on -http. It prints "READY <url>" once
// serving.
//
//	webtestd -data DIR -camera cam1=rtsp://127.0.0.1:8554/cam1 ...
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/disks"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/ingest"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/init/netconf"
	"github.com/matthan/matthan/webadmin"
	"github.com/matthan/matthan/webadmin/adapt"
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
	var cams cameraFlags
	flag.Var(&cams, "camera", "NAME=RTSP_URL (repeatable)")
	loopback := flag.Bool("allow-loopback-cameras", false, "allow camera URLs on 127.0.0.1 (camsim)")
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	store, err := storage.Open(ctx, *data, storage.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	idx, err := search.Open(filepath.Join(*data, "events.bleve"), search.Options{})
	if err != nil {
		return err
	}
	defer idx.Close()
	hub := live.NewHub()
	policy := camnet.Policy{AllowLoopback: *loopback}
	states := &adapt.Cameras{}
	dets := map[string]*motion.Detector{}
	states.Motion = func(c string) bool { d := dets[c]; return d != nil && d.Active() }
	var names []string
	for _, c := range cams {
		name, url, ok := strings.Cut(c, "=")
		if !ok {
			return fmt.Errorf("-camera %q: want NAME=URL", c)
		}
		rec := record.New(store, name, record.Options{SegmentDuration: *segDur})
		det, err := motion.New(name, "", motion.Config{}, idx)
		if err != nil {
			return err
		}
		dets[name] = det
		var sink media.Sink = tee{rec, hub.Feed(name)}
		if *withMotion {
			sink = &motion.Watcher{Det: det, Analyzer: mb.NewAnalyzer(), Next: sink}
		}
		if err := policy.CheckURL(ctx, url); err != nil {
			return fmt.Errorf("-camera %s: %w", name, err)
		}
		cam, err := ingest.New(name, url, sink, ingest.Options{Events: idx, Log: logger, Dial: policy.DialWith})
		if err != nil {
			return err
		}
		states.Add(cam)
		names = append(names, name)
		go cam.Run(ctx)
		if *subStreams {
			// The sub stream feeds only the live wall.
			subCam, err := ingest.New(name+"/sub", url+"/sub", hub.Feed(name+"/sub"), ingest.Options{Log: logger, Dial: policy.DialWith})
			if err != nil {
				return err
			}
			go subCam.Run(ctx)
		}
	}
	cert, fp, err := webadmin.LoadOrCreateCert(*data, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "HTTPS certificate SHA-256 fingerprint: %s\n", fp)
	wa, err := webadmin.New(webadmin.Config{
		DataDir: filepath.Join(*data, "web"), Console: os.Stderr,
		Cameras: states, Segments: adapt.Segments{Store: store}, Exporter: adapt.Exporter{Store: store},
		Search: adapt.Search{Index: idx}, Live: hub, Stats: &adapt.Stats{Store: store, DataDir: *data, Version: "webtestd"},
		CertFingerprint: fp, Logger: logger, CameraPolicy: policy,
		Network: netconf.Store{Path: filepath.Join(*data, netconf.FileName)}, BoxName: "matthan-3456", Uplink: "lo",
		Disks: fakeDisks(ctx, *usbDisks, *data, store),
	})
	if err != nil {
		return err
	}
	defer wa.Close()
	for i, n := range names {
		if err := wa.EnsureCamera(webadmin.CameraSettings{ID: n, Name: fmt.Sprintf("Camera %d", i+1), URL: strings.SplitN(cams[i], "=", 2)[1], Mode: "continuous", RetentionDays: 14}); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := webadmin.NewHTTPServer(wa, webadmin.Timeouts{}, log.New(ioDiscard{}, "", 0))
	srv.TLSConfig = webadmin.TLSConfig(cert)
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	var redirect *http.Server
	if *plain != "" {
		_, port, _ := net.SplitHostPort(*listen)
		redirect = webadmin.NewHTTPServer(webadmin.RedirectToHTTPS(port), webadmin.Timeouts{}, nil)
		pln, err := net.Listen("tcp", *plain)
		if err != nil {
			return err
		}
		go redirect.Serve(pln)
	}
	fmt.Printf("READY https://%s\n", *listen)
	<-ctx.Done()
	// A test server must go when told, whatever a part is waiting for.
	time.AfterFunc(8*time.Second, func() {
		fmt.Fprintln(os.Stderr, "webtestd: shutdown took over 8 s; exiting")
		os.Exit(1)
	})
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if redirect != nil {
		redirect.Shutdown(sctx)
	}
	return nil
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

// tee gives every access unit to the recorder and the live view; a
// recorder error does not stop the live view.
type tee struct {
	rec  media.Sink
	live media.Sink
}

// The live view goes first: the recorder may wait on the disk.
func (t tee) StreamStarted(s media.Stream) error {
	t.live.StreamStarted(s)
	return t.rec.StreamStarted(s)
}

func (t tee) WriteAccessUnit(au *media.AccessUnit) error {
	t.live.WriteAccessUnit(au)
	return t.rec.WriteAccessUnit(au)
}

func (t tee) StreamEnded(err error) {
	t.rec.StreamEnded(err)
	t.live.StreamEnded(err)
}

var _ events.Publisher = (*search.Index)(nil)

// fakeDisks watches the USB disks of a fake sysfs tree: formatting and
// mounting are simulated, and the "disk" is a folder under data that a
// store is opened on and attached to the card's, as on the box.
func fakeDisks(ctx context.Context, tree, data string, card *storage.Store) webadmin.Disks {
	if tree == "" {
		return nil
	}
	m := disks.New(disks.Options{
		Sys:      disks.Sys{Block: filepath.Join(tree, "sys", "block"), Dev: filepath.Join(tree, "dev"), MountInfo: filepath.Join(tree, "mountinfo")},
		MountDir: filepath.Join(data, "usbdisk"), Interval: time.Second, StateFile: filepath.Join(data, "recording-disk.json"),
		Target:  adapt.RecordingDisk{Ctx: ctx, Card: card},
		Format:  func(_ context.Context, d disks.Disk) (string, error) { return d.Dev + "1", nil },
		Mount:   func(_ context.Context, _, dir string) error { return os.MkdirAll(dir, 0o755) },
		Unmount: func(string) error { return nil },
		SMART:   func(string) (string, error) { return disks.SMARTPassed, nil },
	})
	go m.Run(ctx)
	return m
}
