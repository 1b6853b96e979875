package webadmin

import (
	"sync"
	"time"
)

// Playback of recordings is audited once per viewing: the first request a
// session makes for a camera's segment file writes the audit line, whatever
// byte range it asks for; the player's further range requests for that
// file do not (they would flood the log), until ViewAuditEvery has passed,
// after which the next request writes a fresh line. Before, only a request
// from byte 0 was logged, so `Range: bytes=1-` saved a file unlogged.
const ViewAuditEvery = 30 * time.Minute

// maxViews bounds the memory of what was logged; when full, it is emptied
// (more audit lines, never fewer).
const maxViews = 4096

type viewKey struct{ session, camera, file string }

type viewLog struct {
	mu   sync.Mutex
	seen map[viewKey]time.Time
}

// first says whether this (session, camera, file) needs an audit line now,
// and remembers it if so.
func (v *viewLog) first(session, camera, file string, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := viewKey{session, camera, file}
	if t, ok := v.seen[k]; ok && now.Sub(t) < ViewAuditEvery && !now.Before(t) {
		return false
	}
	if v.seen == nil || len(v.seen) >= maxViews {
		v.seen = map[viewKey]time.Time{}
	}
	v.seen[k] = now
	return true
}
