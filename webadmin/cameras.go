package webadmin

import (
	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/cameras"
)

// Zone and CameraSettings are the core's one camera record
// (daemon/cameras); the names stay for the page's code.
type (
	Zone           = cameras.Zone
	CameraSettings = cameras.Record
)

// Store is the account store (tests seed households with it).
func (s *Server) Store() *auth.Store { return s.store }
