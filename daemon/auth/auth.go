// Package auth holds who may use the box and what they may see: users with
// roles (technician, officer, household), households and the road cameras
// granted to them, memory-hard password hashes, sessions with CSRF tokens,
// login throttling with temporary lockout, and the one-time setup code that
// lets the first visitor create the technician account.
//
// The rule for video (CanViewCamera) lives here so that every route of the
// web page and the API asks the same question.
package auth

import (
	"errors"
	"regexp"
	"slices"
	"time"
)

// Role is what a user is at the station.
type Role string

const (
	// Technician looks after the box: system, network, firmware, users. A
	// technician sees no video: the households' privacy does not need the
	// person who installs the box.
	Technician Role = "technician"
	// Officer sees every camera (live, playback, search, export) and manages
	// households and their cameras.
	Officer Role = "officer"
	// Household sees live and playback of its own cameras and of the road
	// cameras granted to it, nothing else.
	Household Role = "household"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == Technician || r == Officer || r == Household }

// User is one account. Hash is never sent to a browser.
type User struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Household string    `json:"household,omitempty"`
	Hash      string    `json:"hash"`
	Created   time.Time `json:"created"`
	Disabled  bool      `json:"disabled,omitempty"`
}

// HouseholdInfo is a home in the commune: its own cameras carry its ID; the
// road cameras it may watch are listed in Grants.
type HouseholdInfo struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Address string   `json:"address,omitempty"`
	Grants  []string `json:"grants,omitempty"`
}

// Camera is what the authorization rule needs to know about a camera.
type Camera struct {
	ID        string
	Household string // owner household ID; empty for road cameras
}

// CanViewCamera is the one rule for video (live, playback, recordings,
// thumbnails): officers see every camera, households their own and the
// granted road cameras, technicians none. A grant counts only for a road
// camera (no owner): a grant naming a camera that now belongs to a
// household (reassigned, or a new camera under an old ID) gives nothing,
// even if the cleanup that drops such grants missed one.
func CanViewCamera(u User, h *HouseholdInfo, c Camera) bool {
	if u.Disabled {
		return false
	}
	switch u.Role {
	case Officer:
		return true
	case Household:
		if u.Household == "" || h == nil || h.ID != u.Household {
			return false
		}
		if c.Household != "" && c.Household == u.Household {
			return true
		}
		return c.Household == "" && slices.Contains(h.Grants, c.ID)
	}
	return false
}

// Errors callers can test for.
var (
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("already exists")
	ErrBadPassword  = errors.New("wrong user name or password")
	ErrWeakPassword = errors.New("password too short")
	ErrBadName      = errors.New("invalid name")
	ErrLocked       = errors.New("too many failed attempts")
	ErrSetupDone    = errors.New("setup already done")
	ErrBadSetupCode = errors.New("wrong setup code")
	// ErrNotRoad: only road cameras (no owner household) can be granted.
	ErrNotRoad = errors.New("not a road camera")
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{1,31}$`)

// ValidName reports whether s can be a user, household or camera ID: 2–32
// characters of ASCII letters, digits, '.', '_' and '-'.
func ValidName(s string) bool { return nameRE.MatchString(s) }
