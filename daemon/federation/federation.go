// Package federation joins boxes to their district over NATS JetStream:
// the box side (Box) publishes every event of the box's event log and a
// health record every minute, and answers the district's signed clip
// requests; the district side (District) consumes the events into its own
// search index, keeps the boxes' health, and fetches clips.
//
// Delivery: the box's event log (daemon/search) is the outbox. Its events
// carry a sequence number (events.Event.Seq); the box keeps a cursor, the
// last Seq JetStream acknowledged, in a file written with
// firmware/atomicfile, and moves it only on the acknowledgement. Until
// then search.Options.Hold keeps retention from deleting the events. Each
// message carries Nats-Msg-Id = box ID + "-" + Seq, so JetStream drops a
// repeat inside its duplicate window; past it, the district ignores an
// event version whose Seq it already holds (see District.apply). Either
// way each event is at the district once, whatever the outage.
//
// Subjects (BOX is the box ID, ValidBoxID):
//
//	matthan.BOX.events      events (stream MATTHAN_EVENTS)
//	matthan.BOX.health      health records (stream MATTHAN_HEALTH, last per box)
//	matthan.BOX.cmd.export  the district's signed clip request (request/reply)
//	$O.matthan-BOX.>        the box's object-store bucket for clips
//
// BoxPermissions lists what a box's credentials must allow and nothing
// more; docs/district-server.conf is the recommended server configuration.
package federation

import (
	"fmt"
	"strconv"
	"strings"
)

// Stream names on the district's server.
const (
	StreamEvents = "MATTHAN_EVENTS"
	StreamHealth = "MATTHAN_HEALTH"
)

// ValidBoxID accepts box IDs usable as a subject token and in a bucket
// name: lower-case letters, digits, '-' and '_', 1 to 32 of them.
func ValidBoxID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// EventsSubject is where box publishes its events.
func EventsSubject(box string) string { return "matthan." + box + ".events" }

// HealthSubject is where box publishes its health.
func HealthSubject(box string) string { return "matthan." + box + ".health" }

// ExportSubject is where the district asks box for a clip.
func ExportSubject(box string) string { return "matthan." + box + ".cmd.export" }

// Bucket is box's object-store bucket (clips it uploads).
func Bucket(box string) string { return "matthan-" + box }

// InboxPrefix is box's reply subject prefix: its credentials may receive
// replies there and nowhere else.
func InboxPrefix(box string) string { return "_INBOX_" + box }

// MsgID is the Nats-Msg-Id of box's event with sequence number seq.
func MsgID(box string, seq uint64) string { return box + "-" + strconv.FormatUint(seq, 10) }

// boxOfSubject returns BOX of matthan.BOX.<kind>.
func boxOfSubject(subj, kind string) (string, bool) {
	rest, ok := strings.CutPrefix(subj, "matthan.")
	if !ok {
		return "", false
	}
	box, k, ok := strings.Cut(rest, ".")
	if !ok || k != kind || !ValidBoxID(box) {
		return "", false
	}
	return box, true
}

// BoxPermissions are the subjects a box's user may publish to and
// subscribe to: its own subjects, its replies, the JetStream API calls
// and chunk subjects its own bucket needs. Nothing names another box.
// Its answers to the district's requests go through allow_responses
// (ServerConfig), which lets it reply once to a request it received.
func BoxPermissions(box string) (publish, subscribe []string) {
	if !ValidBoxID(box) {
		panic(fmt.Sprintf("federation: box ID %q", box)) // callers validate
	}
	obj := objStream(Bucket(box))
	publish = []string{
		"matthan." + box + ".>",
		"$O." + Bucket(box) + ".>",
		"$JS.API.STREAM.INFO." + obj,
		"$JS.API.STREAM.MSG.GET." + obj,
		"$JS.API.DIRECT.GET." + obj,
		"$JS.API.DIRECT.GET." + obj + ".>",
		"$JS.API.STREAM.PURGE." + obj,
		"$JS.API.CONSUMER.CREATE." + obj + ".>",
		"$JS.API.CONSUMER.DELETE." + obj + ".>",
		"$JS.ACK." + obj + ".>",
	}
	subscribe = []string{
		InboxPrefix(box) + ".>",
		"matthan." + box + ".cmd.>",
	}
	return publish, subscribe
}
