// Package pairing decides which cameras on the camera network become the
// box's cameras. A camera that appears (WS-Discovery, daemon/discovery)
// is never recorded or shown until it is paired: pairing opens for two
// minutes (the box's pairing button, or the page's "Ghép camera / Pair"
// switch), cameras found while it is open are listed as new, someone
// enters their login (the box asks the camera by ONVIF what it is and
// where its streams are), and an officer names each, assigns it to a
// household or marks it a road camera, and saves: it becomes a
// cameras.Record (main stream recorded, sub stream for live view).
//
// A paired camera that comes back on another address is known again by
// its MAC (from the DHCP lease) or its serial number (from ONVIF), and its
// record follows it; a different camera on the old address is not taken
// for it. Passwords live only in the camera records on the data partition
// (and, until a candidate is paired or forgotten, in memory): no method
// here returns one to be shown.
package pairing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/discovery"
	"github.com/matthan/matthan/daemon/onvif"
)

// PreviewPrefix starts the name of the live-only camera that previews a
// new camera being paired (PreviewID); it is never recorded nor listed.
const PreviewPrefix = "pair-"

// PreviewID is the preview camera of the candidate with key.
func PreviewID(key string) string { return PreviewPrefix + key }

// Window is how long pairing stays open.
const Window = 2 * time.Minute

// MaxCandidates bounds the list of new cameras.
const MaxCandidates = 64

// candidateTTL: a new camera stays listed this long after it was found
// (time to name several), unless paired or forgotten.
const candidateTTL = time.Hour

// Identifier asks a camera what it is (onvif.Client.Identify by default).
type Identifier func(ctx context.Context, device, user, password string, pol camnet.Policy) (onvif.Info, error)

// PasswordSetter changes a camera's password (ONVIF SetUser by default).
type PasswordSetter func(ctx context.Context, device, user, oldPassword, newPassword string, pol camnet.Policy) error

// Config connects the pairing to the core.
type Config struct {
	// Records are the paired (and hand-added) cameras.
	Records *cameras.Store
	// Apply saves a record and starts or restarts its camera (the core's
	// ApplyCamera); nil: Records.Put.
	Apply func(ctx context.Context, r cameras.Record) error
	// Policy checks every camera address.
	Policy camnet.Policy
	// Window is how long pairing stays open (default Window).
	Window time.Duration
	// OnChange hears pairing open and close (the status LED blinks, a
	// discovery round starts).
	OnChange func(open bool)
	Identify Identifier
	SetUser  PasswordSetter
	Now      func() time.Time
	Logf     func(format string, args ...any)
}

// Candidate is a new camera found while pairing was open, as the page
// shows it (no password).
type Candidate struct {
	Key      string    `json:"key"`
	Addr     string    `json:"addr"`
	MAC      string    `json:"mac,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Maker    string    `json:"maker,omitempty"`
	Model    string    `json:"model,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	Firmware string    `json:"firmware,omitempty"`
	Found    time.Time `json:"found"`
	// State: "new" (no login yet), "ready" (streams known), "known_paths"
	// (no ONVIF: the maker's usual paths, to be tested), or a problem:
	// onvif.Problem's words ("wrong_password", "timeout", "bad_reply", …).
	State string `json:"state"`
	// ClockOffsetSec is the camera's clock minus the box's.
	ClockOffsetSec int64 `json:"clockOffsetSec,omitempty"`
	// Main and Sub are the stream addresses, without credentials.
	Main string `json:"main,omitempty"`
	Sub  string `json:"sub,omitempty"`
	// Known is the ID of the paired camera this one is (same serial):
	// pairing it moves that camera's record to this address.
	Known string `json:"known,omitempty"`
	// User is the login name entered (never the password).
	User string `json:"user,omitempty"`

	device   string
	password string
	tried    map[string]bool // logins refused: never sent again
}

// Status is what the page shows.
type Status struct {
	Open       bool        `json:"open"`
	Until      time.Time   `json:"until,omitzero"`
	Candidates []Candidate `json:"candidates"`
}

// Manager is the pairing state. Safe for concurrent use.
type Manager struct {
	cfg Config

	mu    sync.Mutex
	until time.Time
	timer *time.Timer
	cands map[string]*Candidate
}

// New makes a closed pairing manager.
func New(cfg Config) *Manager {
	if cfg.Window <= 0 {
		cfg.Window = Window
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Identify == nil {
		cfg.Identify = func(ctx context.Context, device, user, password string, pol camnet.Policy) (onvif.Info, error) {
			c := &onvif.Client{Device: device, User: user, Password: password, Policy: pol}
			return c.Identify(ctx)
		}
	}
	if cfg.SetUser == nil {
		cfg.SetUser = func(ctx context.Context, device, user, oldPassword, newPassword string, pol camnet.Policy) error {
			c := &onvif.Client{Device: device, User: user, Password: oldPassword, Policy: pol}
			if _, err := c.SystemDateAndTime(ctx); err != nil {
				return err
			}
			return c.SetUser(ctx, user, newPassword, "")
		}
	}
	if cfg.Apply == nil && cfg.Records != nil {
		cfg.Apply = func(_ context.Context, r cameras.Record) error { return cfg.Records.Put(r) }
	}
	return &Manager{cfg: cfg, cands: map[string]*Candidate{}}
}

// Open opens pairing for the window (again from now, if already open)
// and returns when it closes.
func (m *Manager) Open() time.Time {
	m.mu.Lock()
	was := !m.until.IsZero()
	m.until = m.cfg.Now().Add(m.cfg.Window)
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = time.AfterFunc(m.cfg.Window, m.expire)
	until := m.until
	m.mu.Unlock()
	m.cfg.Logf("pairing: open until %s", until.Format(time.TimeOnly))
	if !was && m.cfg.OnChange != nil {
		m.cfg.OnChange(true)
	}
	return until
}

// Close closes pairing now (the new cameras found stay listed).
func (m *Manager) Close() {
	m.mu.Lock()
	was := !m.until.IsZero()
	m.until = time.Time{}
	if m.timer != nil {
		m.timer.Stop()
	}
	m.mu.Unlock()
	if was {
		m.cfg.Logf("pairing: closed")
		if m.cfg.OnChange != nil {
			m.cfg.OnChange(false)
		}
	}
}

func (m *Manager) expire() {
	m.mu.Lock()
	// until is cleared when closing: a set until that has passed is an
	// open window not yet announced closed.
	closed := !m.until.IsZero() && !m.cfg.Now().Before(m.until)
	if closed {
		m.until = time.Time{}
	}
	m.mu.Unlock()
	if closed {
		m.cfg.Logf("pairing: closed (time up)")
		if m.cfg.OnChange != nil {
			m.cfg.OnChange(false)
		}
	}
}

func (m *Manager) openLocked() bool {
	return !m.until.IsZero() && m.cfg.Now().Before(m.until)
}

// IsOpen says whether pairing is open.
func (m *Manager) IsOpen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.openLocked()
}

// Status is the pairing state and the new cameras, newest first.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneLocked()
	st := Status{Open: m.openLocked(), Candidates: []Candidate{}}
	if st.Open {
		st.Until = m.until
	}
	for _, c := range m.cands {
		st.Candidates = append(st.Candidates, c.public())
	}
	sort.Slice(st.Candidates, func(i, j int) bool { return st.Candidates[i].Found.After(st.Candidates[j].Found) })
	return st
}

func (c *Candidate) public() Candidate {
	p := *c
	p.password, p.tried = "", nil
	return p
}

func (m *Manager) pruneLocked() {
	now := m.cfg.Now()
	for k, c := range m.cands {
		if now.Sub(c.Found) > candidateTTL {
			delete(m.cands, k)
		}
	}
}

// KeyOf is a candidate's key: short, URL-safe, stable for an endpoint.
func KeyOf(endpoint string) string {
	h := sha256.Sum256([]byte(endpoint))
	return hex.EncodeToString(h[:6])
}

// CandidateKey is the key a camera is listed under: by its MAC when the
// DHCP lease tells it (so the camera found by its lease and by
// WS-Discovery is listed once), else by its WS-Discovery endpoint.
func CandidateKey(f discovery.Found) string {
	if f.MAC != "" {
		return KeyOf("mac:" + f.MAC)
	}
	return KeyOf(f.Endpoint)
}

// FoundLease takes a camera known only by its DHCP lease (cameras with
// ONVIF, hence WS-Discovery, turned off): like Found, without a device
// service address (Login then tries the usual one, and with a maker the
// maker's usual stream paths).
func (m *Manager) FoundLease(addr netip.Addr, mac, hostname string) {
	if mac == "" {
		return
	}
	m.Found(discovery.Found{Endpoint: "mac:" + mac, Addr: addr, MAC: mac, Hostname: hostname, Leased: true})
}

// Found takes what discovery saw (discovery.Config.OnFind). A paired
// camera seen on a new address (same MAC) has its record moved there;
// any other camera is listed as new only while pairing is open.
func (m *Manager) Found(f discovery.Found) {
	if f.Gone || !f.Addr.IsValid() {
		return
	}
	if m.cfg.Records != nil && f.MAC != "" {
		for _, r := range m.cfg.Records.List() {
			if r.MAC != "" && r.MAC == f.MAC {
				m.follow(r, f.Addr, f.Device)
				return
			}
		}
		// A different camera on a paired camera's address is not that
		// camera: say so (the record keeps its MAC; it is not changed).
		for _, r := range m.cfg.Records.List() {
			if r.MAC != "" && hostOf(r.URL) == f.Addr.String() {
				m.cfg.Logf("pairing: camera %s: another camera (MAC %s) answers on its address %s", r.ID, f.MAC, f.Addr)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := CandidateKey(f)
	if c, ok := m.cands[key]; ok {
		c.Addr, c.MAC = f.Addr.String(), f.MAC
		if f.Hostname != "" {
			c.Hostname = f.Hostname
		}
		if f.Device != "" { // a lease alone does not forget what discovery told
			c.device = f.Device
		}
		if c.Model == "" {
			c.Model = f.Hardware
		}
		if c.Maker == "" {
			c.Maker = f.Name
		}
		return
	}
	if !m.openLocked() {
		return
	}
	m.pruneLocked()
	if len(m.cands) >= MaxCandidates {
		m.cfg.Logf("pairing: %d new cameras listed already; %s not listed", MaxCandidates, f.Addr)
		return
	}
	m.cands[key] = &Candidate{Key: key, Addr: f.Addr.String(), MAC: f.MAC, Hostname: f.Hostname, Maker: f.Name, Model: f.Hardware,
		Found: m.cfg.Now(), State: "new", device: f.Device}
	m.cfg.Logf("pairing: new camera at %s (MAC %s)", f.Addr, f.MAC)
}

// follow moves a paired camera's record to its new address.
func (m *Manager) follow(r cameras.Record, addr netip.Addr, device string) {
	if hostOf(r.URL) == addr.String() {
		return
	}
	old := hostOf(r.URL)
	n := r
	n.URL = withHost(r.URL, addr)
	if r.SubURL != "" {
		n.SubURL = withHost(r.SubURL, addr)
	}
	if device != "" {
		n.ONVIF = device
	} else if r.ONVIF != "" {
		n.ONVIF = withHost(r.ONVIF, addr)
	}
	if key, ok := n.ValidateFor(m.cfg.Policy); !ok {
		m.cfg.Logf("pairing: camera %s moved to %s: not followed (%s)", r.ID, addr, key)
		return
	}
	if err := m.cfg.Apply(context.Background(), n); err != nil && !errors.Is(err, cameras.ErrNotApplied) {
		m.cfg.Logf("pairing: camera %s moved from %s to %s: %v", r.ID, old, addr, err)
		return
	}
	m.cfg.Logf("pairing: camera %s moved from %s to %s (same MAC): record follows", r.ID, old, addr)
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// withHost is raw with its host replaced by addr (port and credentials kept).
func withHost(raw string, addr netip.Addr) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	h := addr.String()
	if p := u.Port(); p != "" {
		h = net.JoinHostPort(h, p)
	} else if addr.Is6() {
		h = "[" + h + "]"
	}
	u.Host = h
	return u.String()
}

// LoginTimeout bounds one Login (all its ONVIF calls).
const LoginTimeout = 20 * time.Second

// Errors of Login and Pair.
var (
	ErrNoCandidate = errors.New("no such new camera (it may have been paired or forgotten)")
	ErrNotReady    = errors.New("the camera's streams are not known yet: enter its login first")
	ErrTriedLogin  = errors.New("this login was refused already: it is not sent again (cameras lock the account)")
)

// Login asks the camera with key what it is, with user and password
// (maker: when the camera has no ONVIF, the maker whose usual stream
// paths to use; for Ezviz the password is the label's verification code).
// A login the camera refused is never sent again.
func (m *Manager) Login(ctx context.Context, key, user, password, maker string) (Candidate, error) {
	m.mu.Lock()
	c, ok := m.cands[key]
	if !ok {
		m.mu.Unlock()
		return Candidate{}, ErrNoCandidate
	}
	tk := user + "\x00" + password
	if c.tried[tk] {
		pub := c.public()
		m.mu.Unlock()
		return pub, ErrTriedLogin
	}
	device, addr := c.device, c.Addr
	m.mu.Unlock()
	if device == "" { // known by its lease only: the usual address
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return Candidate{}, ErrNoCandidate
		}
		host := a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
		device = "http://" + host + "/onvif/device_service"
	}

	// Bounded whole (each call is bounded too): the page waits for it.
	ictx, cancel := context.WithTimeout(ctx, LoginTimeout)
	in, err := m.cfg.Identify(ictx, device, user, password, m.cfg.Policy)
	cancel()

	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok = m.cands[key]
	if !ok {
		return Candidate{}, ErrNoCandidate
	}
	c.User, c.password = user, password
	switch {
	case err == nil:
		c.State = "ready"
		c.device = device
		c.Maker, c.Model, c.Serial, c.Firmware = in.Manufacturer, in.Model, in.Serial, in.Firmware
		c.ClockOffsetSec = int64(in.ClockOffset / time.Second)
		c.Main, c.Sub = in.MainURI, in.SubURI
		c.Known = ""
		if c.Serial != "" && m.cfg.Records != nil {
			for _, r := range m.cfg.Records.List() {
				if r.Serial == c.Serial && (r.Maker == "" || r.Maker == c.Maker) {
					c.Known = r.ID
				}
			}
		}
	case errors.Is(err, onvif.ErrNoONVIF) && maker != "":
		main, sub, kerr := onvif.KnownStreams(maker, addr)
		if kerr != nil {
			c.State = "no_onvif"
			return c.public(), kerr
		}
		c.State, c.Maker, c.Main, c.Sub = "known_paths", maker, main, sub
		err = nil
	default:
		c.State = onvif.Problem(err)
		if errors.Is(err, onvif.ErrWrongPassword) {
			if c.tried == nil {
				c.tried = map[string]bool{}
			}
			if len(c.tried) < 16 {
				c.tried[tk] = true
			}
		}
		m.cfg.Logf("pairing: camera at %s: %s", addr, c.State)
	}
	return c.public(), err
}

// Streams are a ready candidate's stream addresses with its login, for
// a connection test or preview inside the box (never for the page).
func (m *Manager) Streams(key string) (main, sub string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cands[key]
	if !ok {
		return "", "", ErrNoCandidate
	}
	if c.Main == "" {
		return "", "", ErrNotReady
	}
	main = onvif.WithCredentials(c.Main, c.User, c.password)
	if c.Sub != "" {
		sub = onvif.WithCredentials(c.Sub, c.User, c.password)
	}
	return main, sub, nil
}

// PairRequest is what the officer decides.
type PairRequest struct {
	ID        string `json:"id"`   // the camera's key (cam5, cong-nha-3)
	Name      string `json:"name"` // its display name
	Household string `json:"household,omitempty"`
	Road      bool   `json:"road,omitempty"` // a road camera (no household)
	Mode      string `json:"mode,omitempty"` // continuous | motion (default continuous: a paired camera records)
}

// ErrHouseholdOrRoad: a camera belongs to a household or is a road camera.
var ErrHouseholdOrRoad = errors.New("choose a household, or mark the camera as a road camera")

// ErrIDTaken: another camera has this ID.
var ErrIDTaken = errors.New("another camera has this ID")

// Pair makes the candidate a camera (or, when it is a paired camera
// known by serial, moves that camera's record here) and forgets the
// candidate. The record is what is saved (its password included: the
// caller shows only WithoutPassword).
func (m *Manager) Pair(ctx context.Context, key string, req PairRequest) (cameras.Record, error) {
	m.mu.Lock()
	c, ok := m.cands[key]
	if !ok {
		m.mu.Unlock()
		return cameras.Record{}, ErrNoCandidate
	}
	if c.Main == "" {
		m.mu.Unlock()
		return cameras.Record{}, ErrNotReady
	}
	cc := *c
	m.mu.Unlock()

	var r cameras.Record
	if old, ok := m.get(cc.Known); ok && cc.Known != "" {
		r = old // the same camera (serial) on a new address: keep its name and owner
	} else {
		if (req.Household == "") != req.Road {
			return cameras.Record{}, ErrHouseholdOrRoad
		}
		if _, taken := m.get(req.ID); taken {
			return cameras.Record{}, ErrIDTaken
		}
		mode := req.Mode
		if mode == "" {
			mode = cameras.Continuous
		}
		r = cameras.Record{ID: req.ID, Name: req.Name, Household: req.Household, Mode: mode}
	}
	r.URL = onvif.WithCredentials(cc.Main, cc.User, cc.password)
	r.SubURL = ""
	if cc.Sub != "" {
		r.SubURL = onvif.WithCredentials(cc.Sub, cc.User, cc.password)
	}
	r.Maker, r.Model, r.Serial, r.Paired = cc.Maker, cc.Model, cc.Serial, true
	if cc.MAC != "" {
		r.MAC = cc.MAC
	}
	r.ONVIF = cc.device
	if key, ok := r.ValidateFor(m.cfg.Policy); !ok {
		return cameras.Record{}, fmt.Errorf("pairing: camera record invalid: %s", key)
	}
	if err := m.cfg.Apply(ctx, r); err != nil && !errors.Is(err, cameras.ErrNotApplied) {
		return cameras.Record{}, err
	} else if err != nil {
		m.forget(key)
		return r, err
	}
	m.forget(key)
	m.cfg.Logf("pairing: camera %s paired (%s %s at %s)", r.ID, r.Maker, r.Model, cc.Addr)
	return r, nil
}

func (m *Manager) get(id string) (cameras.Record, bool) {
	if m.cfg.Records == nil || id == "" {
		return cameras.Record{}, false
	}
	return m.cfg.Records.Get(id)
}

func (m *Manager) forget(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cands, key)
}

// Forget drops a new camera from the list (it is listed again only if
// it is found while pairing is open).
func (m *Manager) Forget(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cands[key]; !ok {
		return ErrNoCandidate
	}
	delete(m.cands, key)
	return nil
}

// ErrNoONVIFAddress: the camera record has no ONVIF address (added by hand).
var ErrNoONVIFAddress = errors.New("this camera has no ONVIF address: change its password on the camera itself")

// SetPassword changes a paired camera's password on the camera (ONVIF
// SetUser, where the camera allows it) and then in its record. Nothing is
// retried: a refusal leaves both unchanged.
func (m *Manager) SetPassword(ctx context.Context, id, newPassword string) error {
	r, ok := m.get(id)
	if !ok {
		return auth.ErrNotFound
	}
	if r.ONVIF == "" {
		return ErrNoONVIFAddress
	}
	if len(newPassword) < 8 || len(newPassword) > 64 {
		return errors.New("the new camera password must be 8 to 64 characters")
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.User == nil {
		return errors.New("the camera record has no login")
	}
	user := u.User.Username()
	old, _ := u.User.Password()
	if err := m.cfg.SetUser(ctx, r.ONVIF, user, old, newPassword, m.cfg.Policy); err != nil {
		return fmt.Errorf("camera %s: %w", id, err)
	}
	r.URL = onvif.WithCredentials(r.URL, user, newPassword)
	if r.SubURL != "" {
		r.SubURL = onvif.WithCredentials(r.SubURL, user, newPassword)
	}
	return m.cfg.Apply(ctx, r)
}

// FindSub asks a camera added by hand for its sub stream: the known
// layouts first (no question to the camera), else ONVIF at the usual
// device address (port 80) with the main stream's login, once. The sub
// stream is returned only when the camera's main profile is the stream
// the record has; it carries the main stream's login.
func FindSub(ctx context.Context, pol camnet.Policy, main string, identify Identifier) (string, error) {
	if sub, ok := onvif.SubFromMain(main); ok {
		return sub, nil
	}
	u, err := url.Parse(main)
	if err != nil || u.Hostname() == "" {
		return "", errors.New("camera address unreadable")
	}
	if identify == nil {
		identify = New(Config{}).cfg.Identify
	}
	user, pass := "", ""
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	in, err := identify(ctx, "http://"+host+"/onvif/device_service", user, pass, pol)
	if err != nil {
		return "", err
	}
	mu, err := url.Parse(in.MainURI)
	if err != nil || in.SubURI == "" || mu.Path != u.Path || mu.RawQuery != u.RawQuery {
		return "", errors.New("the camera's ONVIF profiles do not name this stream")
	}
	return cameras.WithLoginOf(in.SubURI, main), nil
}
