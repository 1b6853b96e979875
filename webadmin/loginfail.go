package webadmin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// loginFailures summarises failed logins into one event a minute
// (events.LoginFailures): the district sees a guessing attack on a box
// without one event per attempt. Bounded: it keeps counts, and at most
// maxFailNames names and addresses.
type loginFailures struct {
	mu    sync.Mutex
	n     int
	names map[string]int
	addrs map[string]int
	first time.Time
}

const maxFailNames = 20

func (l *loginFailures) note(name, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		l.first = now
		l.names, l.addrs = map[string]int{}, map[string]int{}
	}
	l.n++
	if _, ok := l.names[name]; ok || len(l.names) < maxFailNames {
		l.names[name]++
	}
	if _, ok := l.addrs[addr]; ok || len(l.addrs) < maxFailNames {
		l.addrs[addr]++
	}
}

// take returns the summary event of what was noted, and starts over.
func (l *loginFailures) take(now time.Time) (events.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return events.Event{}, false
	}
	top := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return m[b] - m[a] })
		if len(keys) > 5 {
			keys = keys[:5]
		}
		for i, k := range keys {
			keys[i] = fmt.Sprintf("%s×%d", k, m[k])
		}
		return strings.Join(keys, ", ")
	}
	e := events.Event{Type: events.LoginFailures, Start: l.first, End: now, Score: float64(l.n),
		Text: fmt.Sprintf("%d lần đăng nhập sai / %d failed logins: %s; từ / from %s", l.n, l.n, top(l.names), top(l.addrs))}
	l.n = 0
	return e, true
}

// runLoginSummary publishes the summary every period until ctx ends.
func (s *Server) runLoginSummary(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if e, ok := s.loginFails.take(s.now()); ok {
				s.cfg.Events.Publish(e)
			}
			return
		case <-t.C:
			if e, ok := s.loginFails.take(s.now()); ok {
				s.cfg.Events.Publish(e)
			}
		}
	}
}
