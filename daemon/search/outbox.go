package search

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/firmware/atomicfile"
)

// Sequence numbers and the outbox. Every committed event gets a Seq one
// more than the last (see events.Event.Seq); the log holds them in Seq
// order, so the district outbox (daemon/federation) reads the log itself
// from its cursor (ReadAfter) and no second copy of the events is kept.
// Options.Hold keeps retention and the size budget from deleting what the
// outbox has not had acknowledged.
//
// A rewrite can delete every event, the highest Seq with them: before each
// one, the next Seq is written to path+".seq" (the floor), so sequence
// numbers are never reused.

// logPos is a place in the log: the record after the last one with
// Seq <= seq, in the log generation gen.
type logPos struct {
	gen uint64
	seq uint64
	off int64
}

func seqFloorPath(logPath string) string { return logPath + ".seq" }

// readSeqFloor reads the floor file; a missing or damaged one is 1 (the
// log's own records then decide).
func readSeqFloor(logPath string, logf func(string, ...any)) uint64 {
	b, err := os.ReadFile(seqFloorPath(logPath))
	if err != nil {
		return 1
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n == 0 {
		logf("search: %s is damaged (%q); sequence numbers go on from the event log", seqFloorPath(logPath), b)
		return 1
	}
	return n
}

func writeSeqFloor(logPath string, next uint64) error {
	if err := atomicfile.Write(seqFloorPath(logPath), []byte(strconv.FormatUint(next, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("search: keep the sequence number: %w", err)
	}
	return nil
}

// LastSeq is the Seq of the last committed event (0: none yet).
func (x *Index) LastSeq() uint64 {
	x.bleveMu.Lock()
	defer x.bleveMu.Unlock()
	return x.nextSeq - 1
}

// ReadAfter returns up to limit committed events with a Seq larger than
// after, in Seq order. Repeated calls with a growing after continue where
// the last one stopped instead of reading the log from its start.
func (x *Index) ReadAfter(after uint64, limit int) ([]events.Event, error) {
	x.bleveMu.Lock()
	defer x.bleveMu.Unlock()
	var out []events.Event
	// Where the records after `after` start: the next call (after these
	// are acknowledged) begins there or later.
	pos := logPos{gen: x.log.gen, seq: after, off: x.log.end}
	err := x.log.scan(x.startFor(after), func(off int64, e events.Event) error {
		if e.Seq <= after {
			return nil
		}
		if len(out) == 0 {
			pos.off = off
		}
		if len(out) == limit {
			return errStopScan
		}
		out = append(out, e)
		return nil
	})
	if err != nil && err != errStopScan {
		return nil, fmt.Errorf("search: read the event log after %d: %w", after, err)
	}
	if pos.off >= logHdrSize {
		x.outbox = pos
	}
	return out, nil
}

// startFor is where to scan for records with Seq > after (under bleveMu).
func (x *Index) startFor(after uint64) int64 {
	if p := x.outbox; p.gen == x.log.gen && p.gen != 0 && p.seq <= after && p.off >= logHdrSize && p.off <= x.log.end {
		return p.off
	}
	return logHdrSize
}

// oldestHeld is the earliest Start of an event with Seq > hold still in
// the log, zero if none (under bleveMu).
func (x *Index) oldestHeld(hold uint64) (time.Time, error) {
	var oldest time.Time
	err := x.log.scan(x.startFor(hold), func(off int64, e events.Event) error {
		if e.Seq > hold && (oldest.IsZero() || e.Start.Before(oldest)) {
			oldest = e.Start
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("search: find the events the district lacks: %w", err)
	}
	return oldest, nil
}

// Get returns a committed event by ID.
func (x *Index) Get(id string) (events.Event, bool, error) { return x.stored(id) }
