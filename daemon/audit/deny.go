package audit

import (
	"fmt"
	"slices"
	"time"
)

// maxDenyKeys bounds the (source, actor) pairs aggregated in one minute;
// beyond it, denials share one line whose source and actor are "*".
const maxDenyKeys = 64

type denyKey struct {
	ip, actor string
	minute    int64
}

type denyAgg struct {
	rec         Record
	count       int
	first, last time.Time
}

// Deny records a denied request. Denials are aggregated: one line per
// source address, actor and minute, with a count, the first request's
// camera and detail and the times of the first and last. The line is
// written when the minute is over (within about 10 s), on the next
// Append, Read or Verify, or on Close. Whatever the requests carry, a
// minute of denials costs at most maxDenyKeys+1 short lines.
func (l *Log) Deny(r Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	now := l.now()
	l.flushDeniedLocked(now)
	r = cleanRecord(r)
	r.Action, r.Time = Denied, now.UTC()
	k := denyKey{r.IP, r.Actor, now.Unix() / 60}
	if a := l.denied[k]; a != nil {
		a.count++
		a.last = now
		return
	}
	if len(l.denied) >= maxDenyKeys {
		k.ip, k.actor = "*", "*"
		if a := l.denied[k]; a != nil {
			a.count++
			a.last = now
			return
		}
		r.IP, r.Actor, r.Role = "*", "*", ""
	}
	l.denied[k] = &denyAgg{rec: r, count: 1, first: now, last: now}
}

// flushDenied writes every pending aggregate.
func (l *Log) flushDenied() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.flushDeniedLocked(time.Time{})
	}
}

// flushDeniedLocked writes the aggregates of minutes before now's (all of
// them when now is zero), oldest first (under mu). They are synced by the
// next commit or the background ticker.
func (l *Log) flushDeniedLocked(now time.Time) {
	if len(l.denied) == 0 {
		return
	}
	var due []denyKey
	for k := range l.denied {
		if now.IsZero() || k.minute < now.Unix()/60 {
			due = append(due, k)
		}
	}
	slices.SortFunc(due, func(a, b denyKey) int { return l.denied[a].first.Compare(l.denied[b].first) })
	for _, k := range due {
		a := l.denied[k]
		delete(l.denied, k)
		r := a.rec
		r.Count = a.count
		if a.count > 1 {
			r.Detail = fmt.Sprintf("%d denied requests %s to %s; the first: %s", a.count,
				a.first.UTC().Format("15:04:05"), a.last.UTC().Format("15:04:05"), r.Detail)
		}
		l.writeLocked(r) // a failure is counted in the next Gap record
	}
}
