// Package config reads matthand's settings from command-line flags or a
// JSON file and checks them, with errors that say which setting is wrong
// and why.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/evidence"
)

// Recording modes of a camera.
const (
	RecordContinuous = "continuous"
	RecordMotion     = "motion"
	RecordOff        = "off"
)

// Defaults.
const (
	DefaultListen = "127.0.0.1:8080"
	// DefaultListenTLS empty: the HTTPS address follows -listen (see
	// TLSAddress).
	DefaultListenTLS     = ""
	DefaultRetentionDays = 30
	DefaultMinFreeMB     = 512
	DefaultMaxLoss       = 2.0 // seconds
	DefaultOfflineAfter  = 10.0
)

// Camera is one camera to record.
type Camera struct {
	// Name is unique and safe as a folder name: letters, digits, '-', '_'.
	Name      string `json:"name"`
	URL       string `json:"url"`
	Household string `json:"household,omitempty"`
	// Recording is continuous (default), motion or off.
	Recording string `json:"recording,omitempty"`
	// SubURL is the camera's optional sub stream (lower resolution), pulled
	// for the live wall only.
	SubURL string `json:"sub_url,omitempty"`
	// PreSeconds and PostSeconds are the motion recording buffers (0: the
	// defaults, 5 s and 10 s).
	PreSeconds  int `json:"pre_seconds,omitempty"`
	PostSeconds int `json:"post_seconds,omitempty"`
	// NoMotion turns motion analysis off for this camera: it is recorded
	// (continuous) but yields no motion, scene-change or tamper events.
	// Analysing a 720p stream costs several times what recording it does,
	// so a small box with many cameras may need this. Not allowed with
	// recording "motion".
	NoMotion bool `json:"no_motion,omitempty"`
	// RecordAudio records the camera's sound beside its video ("Ghi âm
	// thanh / Record audio"; off by default: some households do not want
	// sound recorded). The admin page's switch wins once the camera's
	// record exists.
	RecordAudio bool `json:"record_audio,omitempty"`
}

// Record is the camera's first record in the camera store (daemon/cameras):
// its Name is its ID, the one identity every part uses. The page knows no
// recording "off": such a camera shows as continuous, and the
// configuration keeps it off.
func (c Camera) Record() cameras.Record {
	mode := c.Recording
	if mode == RecordOff || mode == "" {
		mode = RecordContinuous
	}
	return cameras.Record{ID: c.Name, Name: c.Name, URL: c.URL, SubURL: c.SubURL, Household: c.Household, Mode: mode,
		PreSec: c.PreSeconds, PostSec: c.PostSeconds, RecordAudio: c.RecordAudio}
}

// Config is everything matthand needs to run.
type Config struct {
	DataDir string `json:"data_dir"`
	// Listen is the plain-HTTP address: it answers /api/health and
	// redirects everything else to HTTPS.
	Listen string `json:"listen"`
	// ListenTLS is the HTTPS address of the admin page; empty follows
	// Listen (see TLSAddress).
	ListenTLS string `json:"listen_tls,omitempty"`
	// WebRTCUDP is the one UDP port of the live view over WebRTC,
	// HOST:PORT; empty: the HTTPS host, port DefaultWebRTCPort (any free
	// port when the HTTPS port is 0); "off": no WebRTC (MSE only).
	WebRTCUDP string `json:"webrtc_udp,omitempty"`
	// RetentionDays: recordings older than this are deleted.
	RetentionDays int `json:"retention_days"`
	// MinFreeMB: the oldest recordings are deleted to keep this much free.
	MinFreeMB int64 `json:"min_free_mb"`
	// MaxLossSeconds bounds what a power cut may lose per camera: the
	// recorder makes its data durable at least this often.
	MaxLossSeconds float64 `json:"max_loss_seconds"`
	// OfflineAfterSeconds: a camera gone this long raises an offline event.
	OfflineAfterSeconds float64  `json:"offline_after_seconds"`
	Cameras             []Camera `json:"cameras"`
	// TimeZone is the box's time zone (an IANA name, default
	// Asia/Ho_Chi_Minh): storage keeps UTC, but what people see, print or
	// save (export file names, manifests, audit details) is in this zone.
	TimeZone string `json:"time_zone,omitempty"`
	// AllowLoopbackCameras lets camera URLs point at the box itself
	// (127.0.0.0/8, ::1): the host-mode development daemon and tests over
	// simulated cameras only, so a flag and never a setting of the box's
	// file (see daemon/camnet).
	AllowLoopbackCameras bool `json:"-"`
	// CameraInterface is the camera network's interface (the box is its
	// DHCP and time server and fences it off); empty: none. On the box
	// init passes the board's camera_network; in development and tests an
	// interface in a network namespace.
	CameraInterface string `json:"camera_interface,omitempty"`
	// NTPServers are the uplink's NTP servers (host or host:port). Empty
	// means the defaults (timesync.DefaultServers, pool.ntp.org names)
	// plus the uplink's default gateway; ["off"] means none.
	NTPServers []string `json:"ntp_servers,omitempty"`
	// SetClock lets the daemon drive the system clock (step, slew, RTC):
	// on the box, init passes -set-clock; elsewhere the host's clock is
	// only watched. A flag, never a setting of the box's file.
	SetClock bool `json:"-"`
}

// CameraPolicy is the addresses cameras may have.
func (c *Config) CameraPolicy() camnet.Policy {
	return camnet.Policy{AllowLoopback: c.AllowLoopbackCameras}
}

// Location is TimeZone loaded (see evidence.Zone, which owns the zone's
// default and its fallback); Validate has checked that it loads.
func (c *Config) Location() *time.Location {
	loc, err := evidence.Zone(c.TimeZone)
	if err != nil {
		loc, _ = evidence.Zone("")
	}
	return loc
}

// MaxLoss is MaxLossSeconds as a duration.
func (c *Config) MaxLoss() time.Duration { return seconds(c.MaxLossSeconds) }

// OfflineAfter is OfflineAfterSeconds as a duration.
func (c *Config) OfflineAfter() time.Duration { return seconds(c.OfflineAfterSeconds) }

// TLSAddress is the HTTPS address: ListenTLS when set, else Listen's host
// with port 443 when Listen's port is 80, 8443 for 8080, 0 (any free port)
// for 0, and Listen's port + 1 otherwise.
func (c *Config) TLSAddress() string {
	if c.ListenTLS != "" {
		return c.ListenTLS
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return c.Listen
	}
	p, _ := strconv.Atoi(port)
	switch p {
	case 80:
		p = 443
	case 8080:
		p = 8443
	case 0:
	default:
		p++
	}
	return net.JoinHostPort(host, strconv.Itoa(p))
}

// DefaultWebRTCPort is the live view's UDP port (see WebRTCAddress).
const DefaultWebRTCPort = 8189

// WebRTCAddress is the live view's UDP address, "" for none (see WebRTCUDP).
func (c *Config) WebRTCAddress() string {
	switch c.WebRTCUDP {
	case "off":
		return ""
	case "":
	default:
		return c.WebRTCUDP
	}
	host, port, err := net.SplitHostPort(c.TLSAddress())
	if err != nil {
		return ""
	}
	if port != "0" {
		port = strconv.Itoa(DefaultWebRTCPort)
	}
	return net.JoinHostPort(host, port)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.RetentionDays == 0 {
		c.RetentionDays = DefaultRetentionDays
	}
	if c.MinFreeMB == 0 {
		c.MinFreeMB = DefaultMinFreeMB
	}
	if c.MaxLossSeconds == 0 {
		c.MaxLossSeconds = DefaultMaxLoss
	}
	if c.OfflineAfterSeconds == 0 {
		c.OfflineAfterSeconds = DefaultOfflineAfter
	}
	if c.TimeZone == "" {
		c.TimeZone = evidence.DefaultZoneName
	}
	for i := range c.Cameras {
		if c.Cameras[i].Recording == "" {
			c.Cameras[i].Recording = RecordContinuous
		}
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Validate checks every setting and returns all problems found, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DataDir == "" {
		bad("data_dir (-data) is required: the folder where recordings are kept")
	}
	if err := checkListen(c.Listen); err != nil {
		bad("listen %w", err)
	}
	if a := c.WebRTCUDP; a != "" && a != "off" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("webrtc_udp %q: want HOST:PORT or off", a)
		}
	}
	if n := c.CameraInterface; n != "" && (len(n) > 15 || strings.ContainsAny(n, "/ \t\n")) {
		bad("camera_interface (-camera-if) %q: not an interface name", n)
	}
	if c.ListenTLS != "" {
		if err := checkListen(c.ListenTLS); err != nil {
			bad("listen_tls %w", err)
		} else if c.ListenTLS == c.Listen {
			bad("listen_tls %q: must differ from listen", c.ListenTLS)
		}
	}
	if c.RetentionDays < 1 || c.RetentionDays > 3650 {
		bad("retention_days %d: want 1 to 3650", c.RetentionDays)
	}
	if c.MinFreeMB < 0 {
		bad("min_free_mb %d: must not be negative", c.MinFreeMB)
	}
	if !(c.MaxLossSeconds >= 0.1 && c.MaxLossSeconds <= 60) {
		bad("max_loss_seconds %v: want 0.1 to 60", c.MaxLossSeconds)
	}
	if !(c.OfflineAfterSeconds >= 0.1 && c.OfflineAfterSeconds <= 3600) {
		bad("offline_after_seconds %v: want 0.1 to 3600", c.OfflineAfterSeconds)
	}
	if _, err := evidence.Zone(c.TimeZone); err != nil {
		bad("time_zone: %w (an IANA name such as %s)", err, evidence.DefaultZoneName)
	}
	if len(c.NTPServers) > 16 {
		bad("ntp_servers: %d servers, at most 16", len(c.NTPServers))
	}
	for _, s := range c.NTPServers {
		if err := checkNTPServer(s); err != nil {
			bad("ntp_servers %q: %w", s, err)
		}
	}
	if len(c.NTPServers) > 1 && slices.Contains(c.NTPServers, "off") {
		bad("ntp_servers: \"off\" stands alone")
	}
	// No cameras is fine: a fresh box starts with none and the technician
	// adds them on the admin page.
	if len(c.Cameras) > 256 {
		bad("%d cameras: at most 256", len(c.Cameras))
	}
	seen := map[string]bool{}
	for i, cam := range c.Cameras {
		if !nameRE.MatchString(cam.Name) {
			bad("camera %d: name %q: use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", i+1, cam.Name)
		} else if seen[strings.ToLower(cam.Name)] {
			bad("camera %d: name %q used twice", i+1, cam.Name)
		}
		seen[strings.ToLower(cam.Name)] = true
		if err := checkRTSPURL(cam.URL, c.CameraPolicy()); err != nil {
			bad("camera %q: %w", cam.Name, err)
		}
		if cam.SubURL != "" {
			if err := checkRTSPURL(cam.SubURL, c.CameraPolicy()); err != nil {
				bad("camera %q: sub_url: %w", cam.Name, err)
			}
		}
		if cam.PreSeconds < 0 || cam.PreSeconds > 60 || cam.PostSeconds < 0 || cam.PostSeconds > 300 {
			bad("camera %q: pre_seconds want 0 to 60, post_seconds 0 to 300", cam.Name)
		}
		switch cam.Recording {
		case RecordContinuous, RecordMotion, RecordOff:
		default:
			bad("camera %q: recording %q: want continuous, motion or off", cam.Name, cam.Recording)
		}
		if cam.NoMotion && cam.Recording == RecordMotion {
			bad("camera %q: recording \"motion\" needs motion analysis (no_motion is set)", cam.Name)
		}
		if len(cam.Household) > 200 {
			bad("camera %q: household longer than 200 bytes", cam.Name)
		}
	}
	return errors.Join(errs...)
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT, e.g. 127.0.0.1:8080: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("%q: host must be an IP address (or empty for all)", addr)
	}
	return nil
}

func checkRTSPURL(raw string, policy camnet.Policy) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("url %q: scheme must be rtsp or rtsps", redact(u))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("url %q: no host", redact(u))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("url %q: bad port %q", redact(u), p)
		}
	}
	if err := policy.CheckHost(u.Hostname()); err != nil {
		hint := ""
		if a, isIP, _ := camnet.ParseHost(u.Hostname()); isIP && a.IsLoopback() {
			hint = " (host-mode development and tests: -allow-loopback-cameras)"
		}
		return fmt.Errorf("url %q: %w%s", redact(u), err, hint)
	}
	return nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// Parse reads a JSON config; unknown fields are errors (a typo must not
// silently drop a setting). It applies defaults and validates.
func Parse(data []byte) (*Config, error) {
	c, err := decode(data)
	if err != nil {
		return nil, err
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func decode(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			return nil, fmt.Errorf("config line %d: %w", line, err)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("config: extra data after the JSON object")
	}
	return &c, nil
}

// cameraFlags collects repeated -camera NAME=URL flags.
type cameraFlags []Camera

func (f *cameraFlags) String() string { return "" }

func (f *cameraFlags) Set(v string) error {
	cam, err := ParseCameraFlag(v)
	if err != nil {
		return err
	}
	*f = append(*f, cam)
	return nil
}

// ParseCameraFlag parses NAME=rtsp://... (the value of -camera), with an
// optional sub stream after a comma: NAME=rtsp://main,rtsp://sub.
func ParseCameraFlag(v string) (Camera, error) {
	name, u, ok := strings.Cut(v, "=")
	if !ok || name == "" || u == "" {
		return Camera{}, fmt.Errorf("want NAME=rtsp://HOST/PATH, got %q", v)
	}
	main, sub, _ := strings.Cut(u, ",rtsp")
	if sub != "" {
		sub = "rtsp" + sub
	}
	return Camera{Name: name, URL: main, SubURL: sub, Recording: RecordContinuous}, nil
}

// FromArgs builds the configuration from command-line arguments (without
// the program name). Flags given explicitly override the -config file;
// -camera flags add cameras to the file's. Usage text goes to usage.
func FromArgs(args []string, usage io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("matthand", flag.ContinueOnError)
	fs.SetOutput(usage)
	var (
		cams    cameraFlags
		file    = fs.String("config", "", "JSON config file (flags given as well override it)")
		data    = fs.String("data", "", "data folder: recordings go to DIR/recordings/<camera>/")
		listen  = fs.String("listen", DefaultListen, "plain-HTTP address HOST:PORT (answers /api/health, redirects the rest to HTTPS)")
		tlsAddr = fs.String("listen-tls", DefaultListenTLS, "HTTPS address of the admin page HOST:PORT (default: -listen's host, port 443 for 80, 8443 for 8080, else -listen's port + 1)")
		rtcAddr = fs.String("webrtc-udp", "", "UDP address HOST:PORT of the live view over WebRTC (default: the HTTPS host, port 8189; off: none)")
		days    = fs.Int("retention-days", DefaultRetentionDays, "delete recordings older than this many days")
		minFree = fs.Int64("min-free-mb", DefaultMinFreeMB, "delete the oldest recordings to keep this many MB free")
		maxLoss = fs.Float64("max-loss", DefaultMaxLoss, "seconds of video a power cut may lose per camera")
		offline = fs.Float64("offline-after", DefaultOfflineAfter, "seconds a camera must be gone before the offline event")
		noMo    = fs.Bool("no-motion", false, "turn motion analysis off on every camera (record only; see no_motion)")
		audio   = fs.Bool("record-audio", false, "record the sound of every camera given with -camera (see record_audio)")
		tz      = fs.String("tz", evidence.DefaultZoneName, "time zone of what people see, print or save (IANA name)")
		loop    = fs.Bool("allow-loopback-cameras", false, "allow camera URLs on this host (127.0.0.1, ::1): development and tests with simulated cameras only")
		camIf   = fs.String("camera-if", "", "camera network interface IFACE (with its address set): the box serves DHCP and time on it and fences it off")
		ntpList = fs.String("ntp", "", "NTP servers of the uplink, HOST[:PORT] separated by commas; \"off\" for none (default: pool.ntp.org names and the default gateway)")
		setClk  = fs.Bool("set-clock", false, "drive the system clock from NTP (the box's init passes it; without it the host's clock is only watched)")
	)
	fs.Var(&cams, "camera", "camera NAME=rtsp://user:pass@host/path (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with -)", fs.Arg(0))
	}
	c := &Config{}
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if c, err = decode(b); err != nil {
			return nil, fmt.Errorf("%s: %w", *file, err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["data"] || *file == "" {
		c.DataDir = *data
	}
	if set["listen"] || *file == "" {
		c.Listen = *listen
	}
	if set["listen-tls"] || *file == "" {
		c.ListenTLS = *tlsAddr
	}
	if set["webrtc-udp"] || *file == "" {
		c.WebRTCUDP = *rtcAddr
	}
	if set["retention-days"] || *file == "" {
		c.RetentionDays = *days
	}
	if set["min-free-mb"] || *file == "" {
		c.MinFreeMB = *minFree
	}
	if set["max-loss"] || *file == "" {
		c.MaxLossSeconds = *maxLoss
	}
	if set["offline-after"] || *file == "" {
		c.OfflineAfterSeconds = *offline
	}
	if set["tz"] || *file == "" {
		c.TimeZone = *tz
	}
	if set["ntp"] {
		c.NTPServers = strings.Split(*ntpList, ",")
	}
	if *audio {
		for i := range cams {
			cams[i].RecordAudio = true
		}
	}
	c.Cameras = append(c.Cameras, cams...)
	c.AllowLoopbackCameras = *loop
	if set["camera-if"] || *file == "" {
		c.CameraInterface = *camIf
	}
	c.SetClock = *setClk
	if *noMo {
		for i := range c.Cameras {
			c.Cameras[i].NoMotion = true
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkNTPServer accepts a host name, an IP address, either with a port,
// or "off".
func checkNTPServer(s string) error {
	if s == "off" {
		return nil
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errors.New("bad port")
		}
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if !hostRE.MatchString(host) {
		return errors.New("want a host name or address, with an optional :PORT")
	}
	return nil
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}$`)
