package app

import (
	"log/slog"
	"sync"

	"github.com/matthan/matthan/daemon/events"
)

// EventLog is an events.Publisher that logs every event and keeps the
// most recent ones in memory for the API (until the search index takes
// over storing them).
type EventLog struct {
	log *slog.Logger

	mu   sync.Mutex
	ring []events.Event
	next int // where the next event goes
	full bool
}

// NewEventLog keeps the last size events.
func NewEventLog(size int, log *slog.Logger) *EventLog {
	return &EventLog{log: log, ring: make([]events.Event, max(size, 1))}
}

// Publish logs e and remembers it.
func (l *EventLog) Publish(e events.Event) {
	l.log.Info("event", "type", e.Type, "camera", e.Camera, "start", e.Start, "text", e.Text)
	l.mu.Lock()
	l.ring[l.next] = e
	l.next++
	if l.next == len(l.ring) {
		l.next, l.full = 0, true
	}
	l.mu.Unlock()
}

// Recent returns up to limit events, newest first.
func (l *EventLog) Recent(limit int) []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	n = min(n, limit)
	out := make([]events.Event, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}
