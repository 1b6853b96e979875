// Package cameras is the box's one camera record and its store: what a
// camera is (its ID, the one identity every part uses: ingest, recorder,
// segment files, events, grants, the admin page), how it is validated, and
// the JSON file that keeps the cameras added or edited on the admin page
// (DATA/web/cameras.json, written atomically). The core owns the store; the
// admin page edits it through the daemon's methods.
package cameras

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/camnet"
)

// FileName is the store's file in the admin page's data folder (DATA/web).
const FileName = "cameras.json"

// ErrNotApplied wraps the error of a change that was saved but could not
// be made to take effect (the camera did not start or stop).
var ErrNotApplied = errors.New("saved, not applied")

// Recording modes. Mixed records continuously and keeps the segments
// that hold an event longer (EventRetentionDays) than the rest
// (RetentionDays).
const (
	Continuous = "continuous"
	Motion     = "motion"
	Mixed      = "mixed"
)

// Zone is a rectangle on the camera's macroblock grid (16x16 pixel cells),
// X1/Y1 exclusive. Kind "zone" counts motion inside; "mask" ignores it.
type Zone struct {
	Kind           string `json:"kind"`
	X0, Y0, X1, Y1 int
}

// Record is one camera: the one record type, keyed by ID. Its JSON is the
// format of cameras.json on every box since the admin page's first
// version: keep it readable.
type Record struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	Household string `json:"household,omitempty"` // owner; empty for a road camera
	Mode      string `json:"mode"`                // continuous | motion | mixed
	PreSec    int    `json:"preSec"`
	PostSec   int    `json:"postSec"`
	// RetentionDays: this camera's video is deleted after so many days
	// (0: the box's retention_days). EventRetentionDays (mixed mode
	// only, more than RetentionDays): segments holding an event are kept
	// that long.
	RetentionDays      int    `json:"retentionDays"`
	EventRetentionDays int    `json:"eventRetentionDays,omitempty"`
	Zones              []Zone `json:"zones,omitempty"`
	// RecordAudio: the camera's sound is recorded with its video ("Ghi âm
	// thanh / Record audio"); off by default.
	RecordAudio bool `json:"recordAudio,omitempty"`
	// NotShared keeps the camera from the district: its clips are refused
	// to district requests (daemon/federation). The zero value shares,
	// so every camera, road or household, is shared until a commune
	// officer unmarks it (a household's indoor camera).
	NotShared bool `json:"notShared,omitempty"`
	// SubURL is the camera's sub stream (live view, motion analysis),
	// never recorded; its password is write-only like URL's.
	SubURL string `json:"subUrl,omitempty"`
	// What the camera said of itself (ONVIF GetDeviceInformation) and
	// its network card (from its DHCP lease): a paired camera that comes
	// back on another address is known again by MAC or serial.
	Maker  string `json:"maker,omitempty"`
	Model  string `json:"model,omitempty"`
	Serial string `json:"serial,omitempty"`
	MAC    string `json:"mac,omitempty"`
	// ONVIF is the camera's device service address (no credentials).
	ONVIF string `json:"onvif,omitempty"`
	// Paired: the camera came in through pairing (else it was added by hand).
	Paired bool `json:"paired,omitempty"`
	// PasswordSet is only ever sent out: the URL's password is
	// write-only (never returned; a URL saved without one keeps the
	// stored one), and this says there is one.
	PasswordSet bool `json:"password_set,omitempty"`
}

// State is what the daemon knows about a running camera right now.
type State struct {
	ID           string    `json:"id"`
	Online       bool      `json:"online"`
	Recording    bool      `json:"recording"`
	OfflineSince time.Time `json:"offlineSince,omitzero"`
	MotionNow    bool      `json:"motionNow"`
	Codec        string    `json:"codec,omitempty"`
	Width        int       `json:"width,omitempty"`
	Height       int       `json:"height,omitempty"`
}

// Validate checks a record (and defaults an empty Mode to motion); key is
// a message key of the admin page saying what is wrong.
func (c *Record) Validate() (key string, ok bool) {
	if !auth.ValidName(c.ID) {
		return "err_bad_name", false
	}
	if c.Name == "" || len(c.Name) > 100 {
		return "err_bad_name", false
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" || len(c.URL) > 500 {
		return "err_bad_url", false
	}
	if c.SubURL != "" {
		su, err := url.Parse(c.SubURL)
		if err != nil || (su.Scheme != "rtsp" && su.Scheme != "rtsps") || su.Host == "" || len(c.SubURL) > 500 {
			return "err_bad_url", false
		}
	}
	if c.ONVIF != "" {
		ou, err := url.Parse(c.ONVIF)
		if err != nil || (ou.Scheme != "http" && ou.Scheme != "https") || ou.Host == "" || ou.User != nil || len(c.ONVIF) > 500 {
			return "err_bad_url", false
		}
	}
	if len(c.Maker) > 100 || len(c.Model) > 100 || len(c.Serial) > 100 {
		return "err_bad_request", false
	}
	if c.MAC != "" {
		if hw, err := net.ParseMAC(c.MAC); err != nil || len(hw) != 6 || hw.String() != c.MAC {
			return "err_bad_request", false
		}
	}
	if c.Household != "" && !auth.ValidName(c.Household) {
		return "err_no_household", false
	}
	if c.Mode == "" {
		c.Mode = Motion
	}
	if c.Mode != Continuous && c.Mode != Motion && c.Mode != Mixed {
		return "err_bad_request", false
	}
	if c.PreSec < 0 || c.PreSec > 60 || c.PostSec < 0 || c.PostSec > 300 || c.RetentionDays < 0 || c.RetentionDays > 365 ||
		c.EventRetentionDays < 0 || c.EventRetentionDays > 365 {
		return "err_bad_request", false
	}
	if c.Mode != Mixed {
		c.EventRetentionDays = 0
	} else if c.EventRetentionDays == 0 || c.RetentionDays > 0 && c.EventRetentionDays <= c.RetentionDays {
		return "err_event_retention", false
	}
	if len(c.Zones) > 64 {
		return "err_bad_request", false
	}
	for _, z := range c.Zones {
		if (z.Kind != "zone" && z.Kind != "mask") || z.X0 < 0 || z.Y0 < 0 || z.X1 <= z.X0 || z.Y1 <= z.Y0 || z.X1 > 512 || z.Y1 > 512 {
			return "err_bad_request", false
		}
	}
	return "", true
}

// ValidateFor is Validate, and the URL's host must be on the camera
// network by p (a host name is checked again, resolved, at every dial).
func (c *Record) ValidateFor(p camnet.Policy) (key string, ok bool) {
	if key, ok := c.Validate(); !ok {
		return key, false
	}
	for _, raw := range []string{c.URL, c.SubURL, c.ONVIF} {
		if raw == "" {
			continue
		}
		u, _ := url.Parse(raw)
		if p.CheckHost(u.Hostname()) != nil {
			return "err_camera_net", false
		}
	}
	return "", true
}

// WithoutPassword is c as it may be shown: no password in the URLs.
func (c Record) WithoutPassword() Record {
	c.PasswordSet = false
	var had bool
	c.URL, had = stripPassword(c.URL)
	c.SubURL, _ = stripPassword(c.SubURL)
	c.PasswordSet = had
	return c
}

// stripPassword is raw without its password, and whether it had one.
func stripPassword(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		if raw == "" {
			return "", false
		}
		return "", false // unreadable: never shown, it may hold a password
	}
	if u.User == nil {
		return raw, false
	}
	if _, has := u.User.Password(); has {
		u.User = url.User(u.User.Username())
		return u.String(), true
	}
	return raw, false
}

// KeepPassword gives a URL saved without a password the stored URL's,
// when the user name is the same (the page never has the password to send
// back). A URL with a password, or another user, is taken as it is.
func KeepPassword(newURL, storedURL string) string {
	nu, err1 := url.Parse(newURL)
	su, err2 := url.Parse(storedURL)
	if err1 != nil || err2 != nil || nu.User == nil || su.User == nil {
		return newURL
	}
	if _, has := nu.User.Password(); has || nu.User.Username() != su.User.Username() {
		return newURL
	}
	pw, has := su.User.Password()
	if !has {
		return newURL
	}
	nu.User = url.UserPassword(nu.User.Username(), pw)
	return nu.String()
}

// Store keeps the records in one JSON file (a list sorted by ID), written
// atomically on every change. Safe for concurrent use.
type Store struct {
	path string
	mu   sync.RWMutex
	m    map[string]Record
}

// Open reads the store at path (a missing file is an empty store).
func Open(path string) (*Store, error) {
	cs := &Store{path: path, m: map[string]Record{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("camera settings: %w", err)
	}
	var list []Record
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("camera settings %s: %w", path, err)
	}
	for _, c := range list {
		c.PasswordSet = false
		cs.m[c.ID] = c
	}
	return cs, nil
}

// Get returns the camera with id.
func (cs *Store) Get(id string) (Record, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	c, ok := cs.m[id]
	return c, ok
}

// List returns every camera, sorted by ID.
func (cs *Store) List() []Record {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	out := make([]Record, 0, len(cs.m))
	for _, c := range cs.m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (cs *Store) saveLocked() error {
	list := make([]Record, 0, len(cs.m))
	for _, c := range cs.m {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	b, err := json.MarshalIndent(list, "", " ")
	if err != nil {
		return err
	}
	return auth.WriteFileAtomic(cs.path, b, 0o600)
}

// Put stores c (replacing the record with its ID); the file is written
// before Put returns, or nothing changes.
func (cs *Store) Put(c Record) error {
	c.PasswordSet = false
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old, had := cs.m[c.ID]
	cs.m[c.ID] = c
	if err := cs.saveLocked(); err != nil {
		if had {
			cs.m[c.ID] = old
		} else {
			delete(cs.m, c.ID)
		}
		return err
	}
	return nil
}

// Remove deletes the camera with id (auth.ErrNotFound if there is none).
func (cs *Store) Remove(id string) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old, had := cs.m[id]
	if !had {
		return auth.ErrNotFound
	}
	delete(cs.m, id)
	if err := cs.saveLocked(); err != nil {
		cs.m[id] = old
		return err
	}
	return nil
}

// WithLoginOf is raw with the user name and password of from (the sub
// stream takes the main stream's login).
func WithLoginOf(raw, from string) string {
	u, err1 := url.Parse(raw)
	f, err2 := url.Parse(from)
	if err1 != nil || err2 != nil {
		return raw
	}
	u.User = f.User
	return u.String()
}
