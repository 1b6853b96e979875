package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/storage"
)

// The retention that follows events: every alarm event marks the camera's
// segments that hold it (from the pre-buffer before it to the post-buffer
// after it) in the store's journal, so that the mixed mode keeps them
// longer and the free-space floor deletes them last. The marks are the
// store's (crash-safe journal records), not derived from the event log.

// markQueue bounds the events waiting for their marks: a mark fsyncs the
// journal, which the detector must not wait for.
const markQueue = 256

// marker marks the segments of alarm events, one at a time, off the
// publisher's path.
type marker struct {
	store   *storage.Store
	buffers func(camera string) (pre, post time.Duration)
	log     *slog.Logger
	q       chan events.Event
	wg      sync.WaitGroup
}

func startMarker(ctx context.Context, store *storage.Store, buffers func(string) (time.Duration, time.Duration), log *slog.Logger) *marker {
	m := &marker{store: store, buffers: buffers, log: log, q: make(chan events.Event, markQueue)}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			select {
			case <-ctx.Done():
				for { // the cameras have stopped: mark what they sent last
					select {
					case e := <-m.q:
						m.mark(e)
					default:
						return
					}
				}
			case e := <-m.q:
				m.mark(e)
			}
		}
	}()
	return m
}

// offer queues e if its video is event video (never blocks).
func (m *marker) offer(e events.Event) {
	if m == nil || !e.Alarm() {
		return
	}
	select {
	case m.q <- e:
	default:
		m.log.Warn("event video not marked: queue full", "camera", e.Camera, "start", e.Start)
	}
}

func (m *marker) mark(e events.Event) {
	pre, post := m.buffers(e.Camera)
	end := e.End
	if end.Before(e.Start) {
		end = e.Start // still going: marked again when it ends
	}
	if err := m.store.MarkEvent(e.Camera, e.Start.Add(-pre), end.Add(post)); err != nil {
		m.log.Error("event video not marked", "camera", e.Camera, "start", e.Start, "err", err)
	}
}

// retentionOf is a camera's retention from its record (the box's days
// when it has none).
func retentionOf(recs *cameras.Store) func(string) storage.Retention {
	return func(camera string) storage.Retention {
		if recs == nil {
			return storage.Retention{}
		}
		r, ok := recs.Get(camera)
		if !ok {
			return storage.Retention{}
		}
		ret := storage.Retention{Days: r.RetentionDays}
		if r.Mode == cameras.Mixed {
			ret.EventDays = r.EventRetentionDays
		}
		return ret
	}
}

// buffers are a running camera's pre- and post-buffers (the gate's
// defaults where it has none).
func (cs *cameraSet) buffers(camera string) (pre, post time.Duration) {
	pre, post = motion.DefaultPre, motion.DefaultPost
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if rc, ok := cs.running[camera]; ok {
		if rc.spec.Pre > 0 {
			pre = rc.spec.Pre
		}
		if rc.spec.Post > 0 {
			post = rc.spec.Post
		}
	}
	return pre, post
}
