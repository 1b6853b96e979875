// Package diag is what matthand tells about itself for diagnosis: cameras
// with their ingest counters, the segment index and recent events, as Go
// types and interfaces. It knows nothing of HTTP: the admin page shows
// them to officers at /api/daemon/* (webadmin). No video goes through it:
// a recording is watched (audited once per viewing) or saved (as a signed,
// audited export) only through the admin page.
package diag

import (
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/stream"
)

// Camera is one camera as the API shows it.
type Camera struct {
	Name string `json:"name"`
	// URL has the user name and password removed.
	URL       string    `json:"url"`
	Codec     string    `json:"codec"`
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	LastError string    `json:"lastError"`
	Width     int       `json:"width,omitempty"`
	Height    int       `json:"height,omitempty"`
	Household string    `json:"household,omitempty"`
	Recording string    `json:"recording,omitempty"`
	// Stats are counters since the daemon started.
	Stats CameraStats `json:"stats"`
}

// CameraStats are a camera's counters.
type CameraStats struct {
	Packets     uint64    `json:"packets"`
	Pictures    uint64    `json:"pictures"`
	KeyFrames   uint64    `json:"keyFrames"`
	VideoBytes  uint64    `json:"videoBytes"`
	Dropped     uint64    `json:"dropped"`
	SinkErrors  uint64    `json:"sinkErrors"`
	Reconnects  uint64    `json:"reconnects"`
	LastPicture time.Time `json:"lastPicture,omitzero"`
	// Readers are the camera's fan-out readers ("live", "record") and
	// what each got and missed (daemon/stream).
	Readers map[string]stream.ReaderStats `json:"readers,omitempty"`
}

// Segment is one recorded file.
type Segment struct {
	Camera string    `json:"camera"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Bytes  int64     `json:"bytes"`
	// File is the segment's path below the recordings folder
	// (camera/YYYY-MM-DD/NAME.mp4); the admin page plays it at
	// /api/recordings/<camera>/<NAME.mp4>.
	File string `json:"file"`
	// Recording is true while the recorder still appends to it.
	Recording bool `json:"recording,omitempty"`
	// ClockUnsynced: recorded (in part) while the box's clock was not
	// synchronised; ClockStepped: the clock was stepped while it was
	// open (storage.TimeFlags).
	ClockUnsynced bool `json:"clockUnsynced,omitempty"`
	ClockStepped  bool `json:"clockStepped,omitempty"`
}

// Cameras lists the configured cameras.
type Cameras interface {
	Cameras() []Camera
}

// Recordings is the segment index.
type Recordings interface {
	// Segments lists camera's segments overlapping [from, to), oldest first.
	Segments(camera string, from, to time.Time) []Segment
}

// EventLog holds recent events.
type EventLog interface {
	// Recent returns up to limit events, newest first.
	Recent(limit int) []events.Event
}

// Source is the daemon's diagnostics, as the admin page's officers-only
// /api/daemon/* routes show them.
type Source interface {
	Cameras
	Recordings
	EventLog
	// Started is when the daemon started.
	Started() time.Time
}

// Limits on queries.
const (
	MaxSegmentRange = 31 * 24 * time.Hour
	DefaultRange    = time.Hour
	DefaultEvents   = 100
	MaxEvents       = 5000
)
