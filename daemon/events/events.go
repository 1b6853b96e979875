// Package events defines what happened on the box (a camera went offline, the
// disk ran low, motion was seen, someone logged in) and the interface through
// which packages report it. Where events go (the log, the search index) is
// decided by whoever implements Publisher.
package events

import "time"

// Type names a kind of event. Values are stable: they are stored and searched.
type Type string

const (
	CameraOffline  Type = "camera_offline"
	CameraOnline   Type = "camera_online"
	DiskLow        Type = "disk_low"
	DiskError      Type = "disk_error"
	RetentionPurge Type = "retention_delete"
	Motion         Type = "motion"
	SceneChange    Type = "scene_change"
	Tamper         Type = "tamper"
	// Pairing: the pairing button was pressed (or held at power-on: the
	// physical officer reset).
	Pairing Type = "pairing"
	// LoginFailures summarises the failed logins of a minute (Text says
	// how many, from where, as whom): one event, however many attempts.
	LoginFailures Type = "login_failures"
	// Update: a firmware update was installed or rolled back.
	Update Type = "update"
	// CameraNetworkRogueDHCP: another DHCP server answers on the camera
	// network (a router plugged into the wrong port).
	CameraNetworkRogueDHCP Type = "camnet_rogue_dhcp"
	// CameraNetworkPoolFull: a camera asked for an address and none was
	// free.
	CameraNetworkPoolFull Type = "camnet_pool_full"
)

// Event is one thing that happened. Start is required; End is zero for an
// instant event.
type Event struct {
	ID        string    `json:"id,omitempty"`
	Type      Type      `json:"type"`
	Camera    string    `json:"camera,omitempty"`
	Household string    `json:"household,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end,omitzero"`
	// Region is the bounding box of motion on the macroblock grid: x0,y0,x1,y1 (exclusive).
	Region [4]int  `json:"region,omitzero"`
	Score  float64 `json:"score,omitempty"`
	Text   string  `json:"text,omitempty"`
	// Reason refines a type: for Tamper covered, defocused or moved; for
	// SceneChange lights (day/night, infrared on or off, a light switched).
	Reason string `json:"reason,omitempty"`
	// Cause is CauseBox when the box itself caused the event (it switched
	// its own infrared LEDs): shown, but not an alarm.
	Cause string `json:"cause,omitempty"`
	// Seq is the event log's sequence number of this version of the
	// event: given when the log commits it, one more than the last, never
	// reused (a republished event gets a new one). The district outbox
	// (daemon/federation) sends events in Seq order.
	Seq uint64 `json:"seq,omitempty"`
	// Box is the box the event happened on, set only on the district side.
	Box string `json:"box,omitempty"`
}

// Reasons of Tamper and SceneChange events.
const (
	ReasonCovered   = "covered"
	ReasonDefocused = "defocused"
	ReasonMoved     = "moved"
	ReasonLights    = "lights"
)

// CauseBox marks an event the box caused itself.
const CauseBox = "box"

// Alarm says whether e is an alarm about a camera's picture (motion,
// tampering, a scene change the box did not cause itself): the video that
// holds it is event video, kept longer than the rest (daemon/storage).
func (e Event) Alarm() bool {
	if e.Camera == "" || e.Cause == CauseBox {
		return false
	}
	switch e.Type {
	case Motion, Tamper, SceneChange:
		return true
	}
	return false
}

// Publisher takes events. Publish must not block for long: implementations
// queue and batch.
type Publisher interface {
	Publish(e Event)
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(Event)

func (f PublisherFunc) Publish(e Event) { f(e) }

// Discard drops every event.
var Discard Publisher = PublisherFunc(func(Event) {})
