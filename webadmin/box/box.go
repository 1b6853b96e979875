// Package box is where matthand's core (daemon/app) and its one HTTP
// surface (webadmin) meet: it starts the core, mounts the admin page on it
// through the page's Go interfaces, and serves it over HTTPS (with a
// plain-HTTP listener that answers /api/health and redirects the rest),
// behind one connection cap and timeouts. It prints the first-boot lines
// on the console and announces the page by mDNS. daemon/cmd/matthand and
// webadmin/cmd/webtestd both run it.
package box

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/app"
	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/disks"
	"github.com/matthan/matthan/daemon/netlimit"
	"github.com/matthan/matthan/daemon/webrtc"
	"github.com/matthan/matthan/firmware/netconf"
	"github.com/matthan/matthan/webadmin"
	"github.com/matthan/matthan/webadmin/adapt"
)

// ReadyMessage is logged (with the addresses) once the listeners serve.
const ReadyMessage = "matthand ready"

// SetupCodeLine, FingerprintLine and BoxKeyLine start the lines Run prints
// on stderr (which init forwards to the serial console): the first-boot
// setup code, the HTTPS certificate's fingerprint and the fingerprint of
// the box key that signs exports (evidence.Fingerprint).
const (
	SetupCodeLine   = "matthand: setup code: "
	FingerprintLine = "matthand: HTTPS certificate SHA-256: "
	BoxKeyLine      = "matthand: evidence key fingerprint: "
	AdminLine       = "matthand: admin page: "
)

// Options are what Run needs beside the configuration.
type Options struct {
	// Console receives the setup code, fingerprint and admin address lines
	// (default os.Stderr).
	Console io.Writer
	// BoardFile is the board definition with the GPIO pins (default
	// $MATTHAN_BOARD).
	BoardFile string
	// InitSocket is init's control socket for the log page (default
	// $MATTHAN_INIT_SOCKET).
	InitSocket string
	// ReleaseFile is the running release and UpdateKeys the keys a
	// firmware bundle must be signed with (default firmware.PathOnBox and
	// bundle.KeysPathOnBox, in the initramfs; webtestd's are a test's).
	ReleaseFile, UpdateKeys string
	// Uplink is the interface the box is announced on by mDNS and named
	// after (default: the board file's uplink; none: not announced).
	Uplink string
	// BoxName overrides the name derived from the uplink (webtestd).
	BoxName string
	// Timeouts override webadmin.DefaultTimeouts field by field (tests).
	Timeouts webadmin.Timeouts
	// Conns overrides the connection caps field by field (tests); by
	// default they follow from the descriptor limit (connBudget).
	Conns netlimit.Limits
	// Core are the core's options (BoardFile is filled in from above).
	Core app.Options
	// Version is shown on the system page (default "matthand").
	Version string
	// NoPlainHTTP: no plain-HTTP listener (webtestd without -http).
	NoPlainHTTP bool
	// Ready, when set, is called with the HTTPS base URL once serving.
	Ready func(httpsURL string)
	// Seed, when set, runs once the page exists (webtestd's camera names).
	Seed func(*app.Core, *webadmin.Server) error
	// Disks is passed to the core (a fake sysfs for webtestd).
	Disks *disks.Options
	// DistrictHealthEvery overrides the district health period (default
	// 60 s; tests).
	DistrictHealthEvery time.Duration
}

// connBudget splits the descriptor limit: the recorder's reserve first
// (per camera its RTSP connections, segment file and journal, with room
// for cameras added later; the event index, logs, certificates, the
// runtime), then two descriptors per client connection (its socket and a
// recording or export file it downloads), at most maxConns.
func connBudget(cameras int) netlimit.Budget {
	return netlimit.Budget{Reserve: 256 + 8*max(cameras, 64), PerConn: 2, Max: maxConns, Min: 32}
}

// Connection caps: maxConns in total (memory: each holds buffers and a
// goroutine), maxConnsPerAddr from one source address (a household's
// browser opens ~6; an office behind one NAT several browsers), and
// maxNewConnsPerAddr new ones per second from one address (each a TLS
// handshake: CPU).
const (
	maxConns           = 1024
	maxConnsPerAddr    = 64
	maxNewConnsPerAddr = 50
)

// connLimits raises the soft descriptor limit to the hard one (init raises
// the hard limit for the daemon) and derives the caps from it.
func connLimits(cameras int, override netlimit.Limits, log *slog.Logger) netlimit.Limits {
	fds, err := netlimit.RaiseFileLimit()
	if err != nil {
		log.Warn("descriptor limit not raised", "err", err)
	}
	total, short := connBudget(cameras).Total(fds)
	lim := netlimit.Limits{Total: total, PerAddr: maxConnsPerAddr, RatePerAddr: maxNewConnsPerAddr}
	if override.Total > 0 {
		lim.Total = override.Total
	}
	if override.PerAddr > 0 {
		lim.PerAddr = override.PerAddr
	}
	if override.RatePerAddr > 0 {
		lim.RatePerAddr = override.RatePerAddr
	}
	if short {
		log.Warn("descriptor limit too small for the recorder's reserve: raise RLIMIT_NOFILE", "limit", fds, "reserve", connBudget(cameras).Reserve)
	}
	log.Info("web connections capped", "total", lim.Total, "per_address", lim.PerAddr, "new_per_address_per_s", lim.RatePerAddr, "descriptor_limit", fds)
	return lim
}

// Run runs the daemon until ctx is cancelled, then shuts down cleanly.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	return RunWith(ctx, cfg, log, Options{BoardFile: os.Getenv("MATTHAN_BOARD"), InitSocket: os.Getenv("MATTHAN_INIT_SOCKET")})
}

// Page builds the admin page on a running core: every part through the
// page's interfaces.
func Page(core *app.Core, cfg *config.Config, wc webadmin.Config) (*webadmin.Server, error) {
	wc.CameraStore = core.Records
	wc.Cameras, wc.Applier = core, core
	if core.Pairing != nil {
		wc.Pairing, wc.Previews = core.Pairing, core
	}
	wc.Segments, wc.Exporter = adapt.Segments{Store: core.Store}, adapt.Exporter{Store: core.Store}
	wc.Search, wc.Live = adapt.Search{Index: core.Index}, core.Hub
	wc.Diag = core.Diag()
	wc.Clock = core.Clock
	wc.Events = core.Publisher()
	wc.CameraPolicy = cfg.CameraPolicy()
	wc.RetentionDays = cfg.RetentionDays
	wc.Location = cfg.Location()
	if core.Disks != nil {
		wc.Disks = core.Disks
	}
	if ir := core.Lights.IR; ir != nil {
		l := adapt.Lights{IR: ir, Status: core.Lights.Status}
		wc.Lights, wc.LightsControl = l, l
	} else {
		wc.Lights = noLights{reason: core.Lights.NoGPIOReason}
	}
	wc.OfficerReset = core.Lights.OfficerReset
	return webadmin.New(wc)
}

// noLights reports the IR state of a box without GPIO.
type noLights struct{ reason string }

func (n noLights) LightsState() webadmin.LightsState {
	return webadmin.LightsState{Mode: "none", Reason: n.reason}
}

// RunWith is Run with explicit options.
func RunWith(ctx context.Context, cfg *config.Config, log *slog.Logger, opt Options) error {
	if log == nil {
		log = slog.Default()
	}
	if opt.Console == nil {
		opt.Console = os.Stderr
	}
	if opt.Version == "" {
		opt.Version = "matthand"
	}
	co := opt.Core
	co.BoardFile = opt.BoardFile
	co.Disks = opt.Disks
	core, err := app.Start(cfg, log, co)
	if err != nil {
		return err
	}
	defer core.Close()
	if opt.BoardFile == "" {
		// No GPIO here: SIGUSR1 is the pairing button (development and
		// the camera network's tests press it so).
		stopButton := signalButton(ctx, core.PressPairingButton)
		defer stopButton()
	}

	id := identify(opt, log)
	if opt.BoxName != "" {
		id.name = opt.BoxName
	}
	cert, fp, err := webadmin.LoadOrCreateCert(cfg.DataDir, id.certHosts())
	if err != nil {
		return fmt.Errorf("HTTPS certificate: %w", err)
	}
	checkCertName(cert, id, log)
	webDir := filepath.Join(cfg.DataDir, "web")
	var rtc webadmin.LiveRTC
	if addr := cfg.WebRTCAddress(); addr != "" {
		// The live view over WebRTC: one UDP port; without it the page
		// uses MSE over its WebSocket.
		s, err := webrtc.New(webrtc.Config{Address: addr, Source: core.Hub, Log: log.With("component", "webrtc")})
		if err != nil {
			log.Error("live view over WebRTC off", "err", err)
		} else {
			defer s.Close()
			rtc = s
		}
	}
	stats := &adapt.Stats{Store: core.Store, DataDir: cfg.DataDir, Version: opt.Version}
	district := newDistrictLink(webDir, core, stats, log)
	district.healthE = opt.DistrictHealthEvery
	wa, err := Page(core, cfg, webadmin.Config{
		LiveRTC: rtc,
		DataDir: webDir, Console: io.Discard,
		Logs:  initLog{socket: opt.InitSocket},
		Stats: stats, District: district,
		CertFingerprint: fp, Logger: log.With("component", "webadmin"),
		Network: netconf.Store{Path: filepath.Join(cfg.DataDir, netconf.FileName)}, BoxName: id.name, Uplink: id.uplink,
		Firmware: newFirmwareUpdater(cfg.DataDir, opt),
	})
	if err != nil {
		return err
	}
	defer wa.Close()
	district.start(wa)
	defer district.close()
	if opt.Seed != nil {
		if err := opt.Seed(core, wa); err != nil {
			return err
		}
	}

	tlsLn, err := net.Listen("tcp", cfg.TLSAddress())
	if err != nil {
		return fmt.Errorf("listen on %s (HTTPS): %w", cfg.TLSAddress(), err)
	}
	var httpLn net.Listener
	if !opt.NoPlainHTTP {
		if httpLn, err = net.Listen("tcp", cfg.Listen); err != nil {
			tlsLn.Close()
			return fmt.Errorf("listen on %s (HTTP): %w", cfg.Listen, err)
		}
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	// Both listeners share one cap (they share the descriptors); a
	// connection beyond it is closed before its TLS handshake.
	conns := netlimit.NewGroup(connLimits(core.CameraCount(), opt.Conns, log))
	hs := webadmin.NewHTTPServer(wa, opt.Timeouts, errLog)
	hs.TLSConfig = webadmin.TLSConfig(cert)
	_, tlsPort, _ := net.SplitHostPort(tlsLn.Addr().String())
	plain := webadmin.NewHTTPServer(plainHTTP(wa, tlsPort), opt.Timeouts, errLog)
	httpErr := make(chan error, 2)
	go func() {
		httpErr <- hs.Serve(tls.NewListener(conns.Wrap(guardCameraNet(tlsLn, cfg.CameraInterface, log)), hs.TLSConfig))
	}()
	httpDesc := "none"
	if httpLn != nil {
		go func() { httpErr <- plain.Serve(conns.Wrap(guardCameraNet(httpLn, cfg.CameraInterface, log))) }()
		httpDesc = "http://" + httpLn.Addr().String()
	}

	adminURL := "https://" + displayAddr(tlsLn.Addr().String()) + "/"
	if httpLn != nil {
		fmt.Fprintf(opt.Console, "%s%s (HTTP %s redirects there)\n", AdminLine, adminURL, displayAddr(httpLn.Addr().String()))
	} else {
		fmt.Fprintf(opt.Console, "%s%s\n", AdminLine, adminURL)
	}
	fmt.Fprintf(opt.Console, "%s%s\n", FingerprintLine, fp)
	fmt.Fprintf(opt.Console, "%s%s (vân tay khoá ký bằng chứng / checks exported evidence: matthan-verify)\n", BoxKeyLine, wa.BoxKeyFingerprint())
	annCtx, stopAnn := context.WithCancel(context.Background())
	defer stopAnn()
	if r := announce(annCtx, id, tlsPort, opt.Console, log); r != nil {
		defer r.Close()
	}
	if b, err := os.ReadFile(webadmin.SetupCodePath(webDir)); err == nil {
		fmt.Fprintf(opt.Console, "%s%s (mã cài đặt lần đầu: người đầu tiên nhập mã tạo tài khoản kỹ thuật viên / first visitor creates the technician account)\n",
			SetupCodeLine, strings.TrimSpace(string(b)))
	}
	log.Info(ReadyMessage, "https", adminURL, "http", httpDesc, "cameras", core.CameraCount(), "data", cfg.DataDir)
	if opt.Ready != nil {
		opt.Ready("https://" + tlsLn.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		runErr = fmt.Errorf("HTTP server: %w", err)
	}

	// Shutdown: stop taking video, flush every recorder, then the store.
	t0 := time.Now()
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = errors.Join(runErr, core.Close())
	_ = hs.Shutdown(shutCtx)
	_ = plain.Shutdown(shutCtx)
	log.Info("matthand stopped", "took", time.Since(t0).Round(time.Millisecond))
	return err
}

// displayAddr turns a listener address into one a person can type: an
// unspecified host (":443", "[::]:443") prints as "<box-ip>" (the box's
// address is the network's business), port 443 is left out.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "<box-ip>"
	}
	if port == "443" {
		return host
	}
	return net.JoinHostPort(host, port)
}
