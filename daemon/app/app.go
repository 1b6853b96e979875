// Package app wires matthand together: the segment store, per camera an
// RTSP ingest feeding the live hub, the motion watcher, the recording gate
// and the recorder, the event index (bleve) and log, the lights, and the
// admin page (webadmin) as the one HTTPS handler, with a plain-HTTP
// listener that answers /api/health and redirects the rest. It shuts them
// down in an order that loses nothing (ingest stops, recorders flush and
// fsync, then the store and the index close).
package app

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
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/api"
	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/netlimit"
	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/init/netconf"
	"github.com/matthan/matthan/webadmin"
	"github.com/matthan/matthan/webadmin/adapt"
)

// EventMemory is how many events the diagnostic API can list.
const EventMemory = 5000

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
	// Uplink is the interface the box is announced on by mDNS and named
	// after (default: the board file's uplink; none: not announced).
	Uplink string
	// Timeouts override webadmin.DefaultTimeouts field by field (tests).
	Timeouts webadmin.Timeouts
	// Conns overrides the connection caps field by field (tests); by
	// default they follow from the descriptor limit (connBudget).
	Conns netlimit.Limits
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
	return RunWith(ctx, cfg, log, Options{BoardFile: boardFile(), InitSocket: initSocket()})
}

// RunWith is Run with explicit options.
func RunWith(ctx context.Context, cfg *config.Config, log *slog.Logger, opt Options) error {
	if log == nil {
		log = slog.Default()
	}
	if opt.Console == nil {
		opt.Console = os.Stderr
	}
	started := time.Now()
	evlog := NewEventLog(EventMemory, log)

	idx, err := search.Open(filepath.Join(cfg.DataDir, "events"), search.Options{Logf: logf(log, "search")})
	if err != nil {
		return fmt.Errorf("open event index in %s: %w", cfg.DataDir, err)
	}
	defer idx.Close()
	if idx.Repaired != "" {
		log.Warn("event index was damaged: moved aside, rebuilding it from the event log", "old", idx.Repaired)
	}
	bgCtx, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	pub := &publisher{idx: idx, log: evlog, ctx: bgCtx, logger: log}

	var recDisks recordingDisks
	storeOpts := storage.Options{
		RetentionDays: cfg.RetentionDays,
		MinFreeBytes:  cfg.MinFreeMB << 20,
		Events:        pub,
		Logf:          logf(log, "storage"),
	}
	cardOpts := storeOpts // the same floor and retention, applied on each disk
	cardOpts.DiskLost = recDisks.lost
	store, err := storage.Open(bgCtx, cfg.DataDir, cardOpts)
	if err != nil {
		return fmt.Errorf("open recordings in %s: %w", cfg.DataDir, err)
	}
	defer store.Close()
	var usbDisks webadmin.Disks
	if opt.BoardFile != "" { // on the box: a USB disk records, the card keeps the rest
		usbDisks = recDisks.start(bgCtx, store, storeOpts, filepath.Join(cfg.DataDir, "recording-disk.json"), log)
	}

	hub := live.NewHub()
	cams := newCameraSet(cfg, store, hub, pub, log)
	lp := startLights(bgCtx, opt.BoardFile, log)

	id := identify(opt, log)
	cert, fp, err := webadmin.LoadOrCreateCert(cfg.DataDir, id.certHosts())
	if err != nil {
		return fmt.Errorf("HTTPS certificate: %w", err)
	}
	checkCertName(cert, id, log)
	webDir := filepath.Join(cfg.DataDir, "web")
	wa, err := webadmin.New(webadmin.Config{
		DataDir: webDir, Console: io.Discard, CameraPolicy: cfg.CameraPolicy(),
		Cameras: cams, Applier: cams,
		Segments: adapt.Segments{Store: store}, Exporter: adapt.Exporter{Store: store},
		Search: adapt.Search{Index: idx}, Live: hub, Lights: lp.page, Disks: usbDisks,
		Logs:            initLog{socket: opt.InitSocket},
		Stats:           &adapt.Stats{Store: store, DataDir: cfg.DataDir, Version: "matthand"},
		CertFingerprint: fp, Logger: log.With("component", "webadmin"),
		Location:     cfg.Location(),
		OfficerReset: lp.officerReset,
		Network:      netconf.Store{Path: filepath.Join(cfg.DataDir, netconf.FileName)}, BoxName: id.name, Uplink: id.uplink,
	})
	if err != nil {
		return err
	}
	defer wa.Close()

	// Cameras: the configured ones (the page's edits win), then the ones
	// added on the page.
	pageCams, err := readPageCameras(filepath.Join(webDir, "cameras.json"))
	if err != nil {
		log.Error("camera settings of the admin page unreadable; running the configured cameras only", "err", err)
	}
	onPage := map[string]webadmin.CameraSettings{}
	for _, c := range pageCams {
		onPage[c.ID] = c
	}
	for _, c := range cfg.Cameras {
		spec := cams.configured[c.Name]
		if w, ok := onPage[c.Name]; ok {
			spec = spec.withSettings(w)
		} else if err := wa.EnsureCamera(settingsOf(spec)); err != nil {
			log.Error("camera not shown on the admin page", "camera", c.Name, "err", err)
		}
		if err := cams.start(spec); err != nil {
			return err
		}
	}
	for _, w := range pageCams {
		if _, ok := cams.configured[w.ID]; ok {
			continue
		}
		if err := cams.ApplyCamera(ctx, w); err != nil {
			log.Error("camera from the admin page not started", "camera", w.ID, "err", err)
		}
	}
	defer cams.closeAll()
	var lastWriteErrors int64
	lp.watchStatus(bgCtx, cams, func() bool { // write errors since the last look
		n := store.Stats().WriteErrors
		problem := n > lastWriteErrors
		lastWriteErrors = n
		return problem || recDisks.alarm()
	})

	daemonAPI := &api.Server{
		Cameras:    cameraList{cams},
		Recordings: recordings{store},
		Events:     evlog,
		Log:        log,
		Started:    started,
	}
	tlsLn, err := net.Listen("tcp", cfg.TLSAddress())
	if err != nil {
		return fmt.Errorf("listen on %s (HTTPS): %w", cfg.TLSAddress(), err)
	}
	httpLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		tlsLn.Close()
		return fmt.Errorf("listen on %s (HTTP): %w", cfg.Listen, err)
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	// Both listeners share one cap (they share the descriptors); a
	// connection beyond it is closed before its TLS handshake.
	conns := netlimit.NewGroup(connLimits(len(cams.list())+len(pageCams), opt.Conns, log))
	hs := webadmin.NewHTTPServer(handler(wa, daemonAPI.Handler(), lp.api), opt.Timeouts, errLog)
	hs.TLSConfig = webadmin.TLSConfig(cert)
	_, tlsPort, _ := net.SplitHostPort(tlsLn.Addr().String())
	plain := webadmin.NewHTTPServer(plainHTTP(wa, tlsPort), opt.Timeouts, errLog)
	httpErr := make(chan error, 2)
	go func() { httpErr <- hs.Serve(tls.NewListener(conns.Wrap(tlsLn), hs.TLSConfig)) }()
	go func() { httpErr <- plain.Serve(conns.Wrap(httpLn)) }()

	adminURL := "https://" + displayAddr(tlsLn.Addr().String()) + "/"
	fmt.Fprintf(opt.Console, "%s%s (HTTP %s redirects there)\n", AdminLine, adminURL, displayAddr(httpLn.Addr().String()))
	fmt.Fprintf(opt.Console, "%s%s\n", FingerprintLine, fp)
	fmt.Fprintf(opt.Console, "%s%s (vân tay khoá ký bằng chứng / checks exported evidence: matthan-verify)\n", BoxKeyLine, wa.BoxKeyFingerprint())
	if r := announce(bgCtx, id, tlsPort, opt.Console, log); r != nil {
		defer r.Close()
	}
	if b, err := os.ReadFile(webadmin.SetupCodePath(webDir)); err == nil {
		fmt.Fprintf(opt.Console, "%s%s (mã cài đặt lần đầu: người đầu tiên nhập mã tạo tài khoản kỹ thuật viên / first visitor creates the technician account)\n",
			SetupCodeLine, strings.TrimSpace(string(b)))
	}
	if len(cfg.Cameras)+len(pageCams) == 0 {
		log.Info("no cameras yet: add them on the admin page", "admin", adminURL)
	}
	log.Info(ReadyMessage, "https", adminURL, "http", "http://"+httpLn.Addr().String(), "cameras", len(cams.list()), "data", cfg.DataDir)

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
	errs := []error{runErr, cams.closeAll()}
	_ = hs.Shutdown(shutCtx)
	_ = plain.Shutdown(shutCtx)
	stopBg()
	lp.wg.Wait()
	pub.wg.Wait()
	errs = append(errs, store.Close(), idx.Flush())
	log.Info("matthand stopped", "took", time.Since(t0).Round(time.Millisecond))
	return errors.Join(errs...)
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

// publisher sends every event to the search index and the in-memory log;
// a retention deletion also ages out the camera's events older than what
// is left.
type publisher struct {
	idx    *search.Index
	log    *EventLog
	ctx    context.Context
	logger *slog.Logger
	mu     sync.Mutex // one age-out at a time
	wg     sync.WaitGroup
}

func (p *publisher) Publish(e events.Event) {
	p.log.Publish(e)
	if e.Type != events.RetentionPurge || e.Camera == "" || e.End.IsZero() {
		p.idx.Publish(e)
		return
	}
	// The events of the deleted recordings go with them, then the
	// retention event itself goes in (after, or it would be deleted too).
	// Not holding up the store's retention loop: the index works on its own.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.idx.Publish(e)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err := p.idx.Flush(); err != nil {
			p.logger.Error("event index flush", "err", err)
		}
		n, err := p.idx.DeleteBefore(p.ctx, e.End, e.Camera)
		if err != nil {
			p.logger.Error("events not aged out with their recordings", "camera", e.Camera, "err", err)
			return
		}
		p.logger.Info("events aged out with their recordings", "camera", e.Camera, "before", e.End, "deleted", n)
	}()
}

func logf(log *slog.Logger, component string) func(string, ...any) {
	l := log.With("component", component)
	return func(format string, args ...any) { l.Info(fmt.Sprintf(format, args...)) }
}

// cameraList adapts the running cameras to the diagnostic api.Cameras.
type cameraList struct{ cams *cameraSet }

func (l cameraList) Cameras() []api.Camera {
	list := l.cams.list()
	out := make([]api.Camera, 0, len(list))
	for _, rc := range list {
		st := rc.cam.Status()
		out = append(out, api.Camera{
			Name: st.Name, URL: st.URL, Codec: st.Codec, State: string(st.State), Since: st.Since.UTC(),
			LastError: st.LastError, Width: st.Width, Height: st.Height,
			Household: rc.spec.Household, Recording: rc.spec.Recording,
			Stats: api.CameraStats{
				Packets: st.Packets, Pictures: st.AccessUnits, KeyFrames: st.KeyFrames, VideoBytes: st.VideoBytes,
				Dropped: st.Dropped, SinkErrors: st.SinkErrors, Reconnects: st.Reconnects, LastPicture: st.LastPictures.UTC(),
			},
		})
	}
	return out
}

// recordings adapts the store to api.Recordings.
type recordings struct{ store *storage.Store }

func toAPI(s storage.Segment) api.Segment {
	return api.Segment{Camera: s.Camera, Start: s.Start, End: s.End, Bytes: s.Bytes, File: s.File, Recording: s.Recording}
}

func (r recordings) Segments(camera string, from, to time.Time) []api.Segment {
	segs := r.store.Segments(camera, from, to)
	out := make([]api.Segment, len(segs))
	for i, s := range segs {
		out[i] = toAPI(s)
	}
	return out
}
