package audit

import (
	"fmt"
	"slices"
	"time"
)

// maxDenyKeys bounds the (action, source, actor) keys aggregated in one
// minute; beyond it, records of an action share one line whose source and
// actor are "*". A minute then costs at most maxDenyKeys plus one line per
// action: about 6 MB a day at most, for a 16 MiB budget.
const maxDenyKeys = 16

type denyKey struct {
	action, ip, actor string
	minute            int64
}

type denyAgg struct {
	rec         Record
	count       int
	first, last time.Time
}

// Deny records a denied request (Aggregate with Action Denied).
func (l *Log) Deny(r Record) {
	r.Action = Denied
	l.Aggregate(r)
}

// Aggregate records something a client can repeat at will (a denied
// request, a failed login): one line per action, source address, actor
// and minute, with a count, the first one's camera and detail and the
// times of the first and last. The line is written when the minute is over
// (within about 10 s), on the next Append, Read or Verify, or on Close.
// Whatever the requests carry, a minute costs at most maxDenyKeys short
// lines plus one per action.
func (l *Log) Aggregate(r Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	now := l.now()
	l.flushDeniedLocked(now)
	r = cleanRecord(r)
	r.Time = now.UTC()
	k := denyKey{r.Action, r.IP, r.Actor, now.Unix() / 60}
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
			r.Detail = fmt.Sprintf("%d times %s to %s; the first: %s", a.count,
				a.first.In(l.opt.Location).Format("15:04:05"), a.last.In(l.opt.Location).Format("15:04:05"), r.Detail)
		}
		l.writeLocked(r) // a failure is counted in the next Gap record
	}
}
