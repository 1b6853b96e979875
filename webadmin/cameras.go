package webadmin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"sync"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/camnet"
)

// Zone is a rectangle on the camera's macroblock grid (16x16 pixel cells),
// X1/Y1 exclusive. Kind "zone" counts motion inside; "mask" ignores it.
type Zone struct {
	Kind           string `json:"kind"`
	X0, Y0, X1, Y1 int
}

// CameraSettings is what the cameras page edits and persists.
type CameraSettings struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	URL           string `json:"url"`
	Household     string `json:"household,omitempty"` // owner; empty for a road camera
	Mode          string `json:"mode"`                // continuous | motion
	PreSec        int    `json:"preSec"`
	PostSec       int    `json:"postSec"`
	RetentionDays int    `json:"retentionDays"`
	Zones         []Zone `json:"zones,omitempty"`
	// PasswordSet is only ever sent out: the URL's password is
	// write-only (never returned; a URL saved without one keeps the
	// stored one), and this says there is one.
	PasswordSet bool `json:"password_set,omitempty"`
}

// ValidateFor is Validate, and the URL's host must be on the camera
// network by p (a host name is checked again, resolved, at every dial).
func (c *CameraSettings) ValidateFor(p camnet.Policy) (key string, ok bool) {
	if key, ok := c.Validate(); !ok {
		return key, false
	}
	u, _ := url.Parse(c.URL)
	if p.CheckHost(u.Hostname()) != nil {
		return "err_camera_net", false
	}
	return "", true
}

// withoutPassword is c as it may be shown: no password in the URL.
func (c CameraSettings) withoutPassword() CameraSettings {
	u, err := url.Parse(c.URL)
	c.PasswordSet = false
	if err != nil || u.User == nil {
		return c
	}
	if _, has := u.User.Password(); has {
		u.User = url.User(u.User.Username())
		c.URL = u.String()
		c.PasswordSet = true
	}
	return c
}

// keepPassword gives a URL saved without a password the stored URL's,
// when the user name is the same (the page never has the password to send
// back). A URL with a password, or another user, is taken as it is.
func keepPassword(newURL, storedURL string) string {
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

// Validate checks settings; the error key is a message key.
func (c *CameraSettings) Validate() (key string, ok bool) {
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
	if c.Household != "" && !auth.ValidName(c.Household) {
		return "err_no_household", false
	}
	if c.Mode == "" {
		c.Mode = "motion"
	}
	if c.Mode != "continuous" && c.Mode != "motion" {
		return "err_bad_request", false
	}
	if c.PreSec < 0 || c.PreSec > 60 || c.PostSec < 0 || c.PostSec > 300 || c.RetentionDays < 0 || c.RetentionDays > 365 {
		return "err_bad_request", false
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

// cameraStore persists camera settings in one JSON file.
type cameraStore struct {
	path string
	mu   sync.RWMutex
	m    map[string]CameraSettings
}

func openCameraStore(path string) (*cameraStore, error) {
	cs := &cameraStore{path: path, m: map[string]CameraSettings{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("camera settings: %w", err)
	}
	var list []CameraSettings
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("camera settings %s: %w", path, err)
	}
	for _, c := range list {
		cs.m[c.ID] = c
	}
	return cs, nil
}

func (cs *cameraStore) get(id string) (CameraSettings, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	c, ok := cs.m[id]
	return c, ok
}

func (cs *cameraStore) list() []CameraSettings {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	out := make([]CameraSettings, 0, len(cs.m))
	for _, c := range cs.m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (cs *cameraStore) saveLocked() error {
	list := make([]CameraSettings, 0, len(cs.m))
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

func (cs *cameraStore) put(c CameraSettings) error {
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

func (cs *cameraStore) remove(id string) error {
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

// PutCamera stores camera settings directly (daemon/app seeds cameras from
// its configuration this way).
func (s *Server) PutCamera(c CameraSettings) error {
	if key, ok := c.ValidateFor(s.cfg.CameraPolicy); !ok {
		return fmt.Errorf("camera %s: %s", c.ID, tr(langEN, key))
	}
	c.PasswordSet = false
	return s.cams.put(c)
}

// Store gives daemon/app the account store (to seed households in tests).
func (s *Server) Store() *auth.Store { return s.store }

// EnsureCamera stores settings for a camera the daemon runs unless the page
// already has settings for it (the officer's edits win).
func (s *Server) EnsureCamera(c CameraSettings) error {
	if _, ok := s.cams.get(c.ID); ok {
		return nil
	}
	return s.PutCamera(c)
}
