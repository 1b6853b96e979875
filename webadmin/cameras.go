package webadmin

import (
	"fmt"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/cameras"
)

// Zone and CameraSettings are the core's one camera record
// (daemon/cameras); the names stay for the page's code.
type (
	Zone           = cameras.Zone
	CameraSettings = cameras.Record
)

// PutCamera stores camera settings directly (daemon/app seeds cameras from
// its configuration this way).
func (s *Server) PutCamera(c CameraSettings) error {
	if key, ok := c.ValidateFor(s.cfg.CameraPolicy); !ok {
		return fmt.Errorf("camera %s: %s", c.ID, tr(langEN, key))
	}
	c.PasswordSet = false
	return s.cams.Put(c)
}

// Store gives daemon/app the account store (to seed households in tests).
func (s *Server) Store() *auth.Store { return s.store }

// EnsureCamera stores settings for a camera the daemon runs unless the page
// already has settings for it (the officer's edits win).
func (s *Server) EnsureCamera(c CameraSettings) error {
	if _, ok := s.cams.Get(c.ID); ok {
		return nil
	}
	return s.PutCamera(c)
}
