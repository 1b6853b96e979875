// Package webadmin is the box's local admin web page: live wall, playback,
// export, event search, cameras, households and users, system and audit log,
// in Vietnamese first with an English switch. Every route — pages, JSON API,
// live stream, recordings, exports — passes through one route table that
// names who may use it and, for video, which camera it touches; the rule
// itself is auth.CanViewCamera.
//
// The daemon hands New its parts through the small interfaces below, so the
// package can run (and be tested) with fakes.
package webadmin

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/diag"
	"github.com/matthan/matthan/daemon/disks"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/webrtc"
)

// CameraState is what the daemon knows about a camera right now.
type CameraState = cameras.State

// CameraLister reports the cameras the daemon runs and their state.
type CameraLister interface {
	CameraStates() []CameraState
}

// CameraApplier is the daemon's core as the cameras page edits it: it
// saves a camera record in its store and makes it take effect now, or
// removes it (auth.ErrNotFound if there is none) and stops the camera; an
// error after the save or removal wraps cameras.ErrNotApplied. When
// Config.Applier is nil (tests), the page saves the record itself and
// says it takes effect at the next start.
type CameraApplier interface {
	ApplyCamera(ctx context.Context, c CameraSettings) error
	RemoveCamera(ctx context.Context, id string) error
}

// Prober tests an RTSP URL (the "connection test" on the cameras page).
type Prober interface {
	Probe(ctx context.Context, url string) (ProbeResult, error)
}

// ProbeResult is what a connection test found.
type ProbeResult struct {
	Codec  string `json:"codec"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
}

// Segment is one recorded file.
type Segment struct {
	File  string    `json:"file"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Bytes int64     `json:"bytes"`
	// ClockUnsynced: recorded while the box's clock was not synchronised
	// (or stepped while it was open): its times may be off.
	ClockUnsynced bool `json:"clockUnsynced,omitempty"`
}

// SegmentStore lists and opens recordings.
type SegmentStore interface {
	Segments(ctx context.Context, camera string, from, to time.Time) ([]Segment, error)
	// OpenSegment opens one file named by Segments; it must refuse names
	// that are not segments of that camera.
	OpenSegment(camera, file string) (io.ReadSeekCloser, time.Time, error)
}

// Exporter writes one MP4 of a camera's range, stitched without transcoding,
// and returns the intervals the file holds (from the samples written, not
// from the request; none when the range has no recording), and those
// recorded while the box's clock was not synchronised.
type Exporter interface {
	Export(ctx context.Context, camera string, from, to time.Time, w io.Writer) (evidence.Coverage, error)
}

// SearchQuery asks the event index. Cameras limits results to these cameras
// (the caller's allowed set; never empty).
type SearchQuery struct {
	Text    string    `json:"q"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Cameras []string  `json:"cameras"`
	Types   []string  `json:"types,omitempty"`
	Size    int       `json:"size"`
	Offset  int       `json:"offset"`
}

// SearchResult is one page of hits with facet counts.
type SearchResult struct {
	Total  int                       `json:"total"`
	Hits   []events.Event            `json:"hits"`
	Facets map[string]map[string]int `json:"facets,omitempty"`
}

// EventSearch queries events.
type EventSearch interface {
	Search(ctx context.Context, q SearchQuery) (SearchResult, error)
}

// LiveSource gives viewers of a camera's live stream.
type LiveSource interface {
	Subscribe(camera string) (*live.Subscription, error)
}

// LiveRTC answers WebRTC offers for live video (daemon/webrtc.Server).
type LiveRTC interface {
	Answer(ctx context.Context, req webrtc.Request) (string, error)
}

// LightsState is the IR illuminator as the lights controller sees it.
type LightsState struct {
	IROn   bool   `json:"irOn"`
	Mode   string `json:"mode"` // auto, on, off
	Reason string `json:"reason,omitempty"`
}

// Lights reports the IR state.
type Lights interface {
	LightsState() LightsState
}

// LogSource gives the newest lines of init's ring buffer.
type LogSource interface {
	LogLines(n int) []string
}

// SystemStats is the box's health.
type SystemStats struct {
	DiskTotal   int64    `json:"diskTotal"`
	DiskUsed    int64    `json:"diskUsed"`
	BytesPerDay float64  `json:"bytesPerDay"` // recording rate now
	Uptime      float64  `json:"uptimeSec"`
	TempC       *float64 `json:"tempC,omitempty"`
	Version     string   `json:"version,omitempty"`

	// DiskFloor is what retention keeps free on the disk: video never
	// takes it. Oldest is the start of the oldest recording held.
	DiskFloor int64     `json:"diskFloor"`
	Oldest    time.Time `json:"oldest,omitzero"`
	// EventShare is the share of the recorded bytes in segments that
	// hold an event (what the motion mode records, and what the mixed
	// mode keeps longer).
	EventShare float64 `json:"eventShare"`
}

// Disks is the USB recording disk watcher (daemon/disks.Manager): the
// system page lists the disks and a technician confirms one as the
// recording disk (the one way a disk is ever formatted).
type Disks interface {
	Status() disks.Status
	Confirm(ctx context.Context, id string) error
	// Forget stops expecting a lost recording disk: the box records to
	// the card by choice and the alarm ends.
	Forget() error
}

// StatsSource reports system stats.
type StatsSource interface {
	SystemStats() SystemStats
}

// Config is everything the web page needs. DataDir is required; every other
// part may be nil, and the page then says that part is not available.
type Config struct {
	// DataDir holds accounts, camera settings, the audit log, the signing
	// key, the setup code and exports.
	DataDir string
	// Console receives the first-boot setup code (the serial console).
	Console io.Writer

	// CameraStore is the core's camera store (daemon/cameras); nil opens
	// DataDir/cameras.json (tests).
	CameraStore *cameras.Store
	Cameras     CameraLister
	Applier     CameraApplier
	// RetentionDays is the box's retention (a camera's 0 days).
	RetentionDays int
	Prober        Prober
	// Pairing is the camera pairing (/api/pairing); nil: 503.
	Pairing Pairer
	// Previews shows new cameras live while they are paired; nil: none.
	Previews Previewer
	Segments SegmentStore
	Exporter Exporter
	Search   EventSearch
	Live     LiveSource
	// LiveRTC carries live video over WebRTC (nil: the page uses MSE
	// over WebSocket only).
	LiveRTC LiveRTC
	Lights  Lights
	// LightsControl shows and sets the lights (/api/lights); nil: the box
	// has no GPIO (503).
	LightsControl LightsControl
	// Diag is the daemon's diagnostics (/api/daemon/*, officers).
	Diag  diag.Source
	Logs  LogSource
	Stats StatsSource
	Disks Disks
	// Clock is the box's clock (state, source; setting it by hand).
	Clock BoxClock

	// Events takes the page's own events (failed logins, summarised once
	// a minute); nil: none.
	Events events.Publisher

	// District is the link to the district (technicians set it on the
	// system page); nil: none.
	District DistrictLink

	// CameraPolicy is where camera URLs may point (saving, the connection
	// test); the zero policy allows the private ranges only.
	CameraPolicy camnet.Policy

	// CertFingerprint is the HTTPS certificate's SHA-256, shown on the system page.
	CertFingerprint string
	// Location is the box's time zone, in which export manifests state
	// their times (nil: Asia/Ho_Chi_Minh).
	Location *time.Location
	// Network is the uplink setting for the next boot (system page,
	// technicians); BoxName (matthan-XXXX, announced as .local) and
	// Uplink (the interface) are shown beside it.
	Network NetworkSettings
	// Firmware installs signed update bundles (nil: 503 on its routes).
	Firmware FirmwareUpdater
	BoxName  string
	Uplink   string
	// HashParams overrides the password hash cost (tests); zero means default.
	HashParams auth.HashParams
	// OfficerReset: the pairing button was held at power-on (the physical
	// officer reset). A technician may then create one new officer even
	// though officers exist; that is audited and shown to every officer.
	OfficerReset bool
	// AuditBudget is the disk space of the audit log's files; zero means
	// audit.DefaultBudget (16 MiB).
	AuditBudget int64
	// InsecureCookies drops the Secure flag (plain-HTTP tests only).
	InsecureCookies bool
	Logger          *slog.Logger
	Now             func() time.Time
}

// Server is the web page. It is an http.Handler.
type Server struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	store     *auth.Store
	sessions  *auth.Sessions
	throttle  *auth.Throttle
	setup     *auth.SetupCode
	setupMu   sync.Mutex
	audit     *audit.Log
	cams      *cameras.Store
	signKey   ed25519.PrivateKey
	views     viewLog
	loc       *time.Location
	exportDir string
	mux       *http.ServeMux
	routes    []route
	started   time.Time
	assets    assets // static files, hashed and gzipped at start
	// assetLinks are the pages' links to app.js and app.css, versioned.
	assetLinks map[string]string

	gate    *auth.Gate
	usersMu sync.Mutex // one account creation at a time (mayCreate)
	// officerReset is armed by Config.OfficerReset until used once.
	officerReset atomic.Bool
	stopBg       context.CancelFunc // ends the session expiry loop
	loginFails   loginFailures
}

// New builds the web page from cfg. It creates what first boot needs: the
// setup code (printed to cfg.Console and written to DataDir/setup-code.txt
// while no technician exists) and the export signing key.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("webadmin: DataDir is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("webadmin: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.store, err = auth.OpenStore(filepath.Join(cfg.DataDir, "accounts.json"), cfg.HashParams); err != nil {
		return nil, fmt.Errorf("webadmin: %w", err)
	}
	s.sessions = auth.NewSessions()
	// Remembered sessions ("Ghi nhớ đăng nhập") survive a restart: kept by
	// their token's hash in DATA/web/sessions.json.
	s.sessions.Path = filepath.Join(cfg.DataDir, "sessions.json")
	s.sessions.OnSaveError = func(err error) { s.log.Error("webadmin: remembered sessions not saved", "err", err) }
	if err := s.sessions.Load(); err != nil {
		s.log.Warn("webadmin: remembered sessions not loaded; their users log in again", "err", err)
	}
	s.throttle = auth.NewThrottle()
	s.gate = &auth.Gate{Store: s.store, Throttle: s.throttle}
	console := cfg.Console
	if console == nil {
		console = os.Stderr
	}
	if s.setup, err = auth.NewSetupCode(SetupCodePath(cfg.DataDir), s.store.NeedsSetup(), console); err != nil {
		return nil, fmt.Errorf("webadmin: %w", err)
	}
	if s.signKey, err = evidence.LoadOrCreateKey(filepath.Join(cfg.DataDir, evidence.KeyFile)); err != nil {
		return nil, fmt.Errorf("webadmin: %w", err)
	}
	if s.loc = cfg.Location; s.loc == nil {
		s.loc, _ = evidence.Zone("") // the default zone always loads
	}
	// The audit log's head is signed with the box key (see daemon/audit).
	if s.audit, err = audit.Open(filepath.Join(cfg.DataDir, "audit.log"), audit.Options{
		Sign:      func(m []byte) []byte { return ed25519.Sign(s.signKey, m) },
		PublicKey: s.signKey.Public().(ed25519.PublicKey), Budget: cfg.AuditBudget, Now: cfg.Now, Location: s.loc,
	}); err != nil {
		return nil, fmt.Errorf("webadmin: %w", err)
	}
	if s.cams = cfg.CameraStore; s.cams == nil {
		if s.cams, err = cameras.Open(filepath.Join(cfg.DataDir, cameras.FileName)); err != nil {
			return nil, fmt.Errorf("webadmin: %w", err)
		}
	}
	s.exportDir = filepath.Join(cfg.DataDir, "exports")
	if err := os.MkdirAll(s.exportDir, 0o700); err != nil {
		return nil, fmt.Errorf("webadmin: %w", err)
	}
	if s.cfg.Prober == nil {
		s.cfg.Prober = rtspProber{policy: cfg.CameraPolicy}
	}
	s.started = s.now()
	if s.assets, err = loadAssets(); err != nil {
		return nil, fmt.Errorf("webadmin: %w", err)
	}
	s.assetLinks = map[string]string{}
	for _, n := range []string{"app.js", "app.css"} {
		s.assetLinks[n] = "/static/" + n + "?v=" + s.assets[n].version
	}
	s.buildRoutes()
	bg, stop := context.WithCancel(context.Background())
	s.stopBg = stop
	go s.sessions.Run(bg, 500*time.Millisecond) // expired sessions end their live streams within a second
	if cfg.Events != nil {
		go s.runLoginSummary(bg, time.Minute)
	}
	if cfg.OfficerReset {
		s.officerReset.Store(true)
		s.auditAppend(&http.Request{}, &reqCtx{}, audit.Change, "", "physical officer reset: pairing button held at power-on")
	}
	return s, nil
}

// SetupCodePath is where the first-boot setup code is written (the flash
// report reads it from there).
func SetupCodePath(dataDir string) string { return filepath.Join(dataDir, "setup-code.txt") }

// Close releases files.
func (s *Server) Close() error {
	s.stopBg()
	return s.audit.Close()
}

// ServeHTTP implements http.Handler. The security headers are Harden's
// (NewHTTPServer), which every response of the box's listeners passes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			id := errorID()
			s.log.Error("webadmin: panic", "error_id", id, "path", r.URL.Path, "panic", v)
			http.Error(w, "internal error "+id, http.StatusInternalServerError)
		}
	}()
	s.mux.ServeHTTP(w, r)
}

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}
