package auth

import (
	"sync"
	"time"
)

// Throttle slows down password guessing: after Free failures for one key
// (a user name, a client address) the key is locked for Base, doubling with
// each further failure up to Max. A success clears the key.
type Throttle struct {
	Free      int
	Base, Max time.Duration
	Now       func() time.Time

	mu sync.Mutex
	m  map[string]*throttleEntry
}

type throttleEntry struct {
	fails int
	until time.Time
	last  time.Time
}

// NewThrottle locks a key for 30 s after 5 failures, up to 15 minutes.
func NewThrottle() *Throttle {
	return &Throttle{Free: 5, Base: 30 * time.Second, Max: 15 * time.Minute, Now: time.Now, m: map[string]*throttleEntry{}}
}

// Check returns how long key must still wait (0: it may try now).
func (t *Throttle) Check(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[key]
	if !ok {
		return 0
	}
	if d := e.until.Sub(t.Now()); d > 0 {
		return d
	}
	return 0
}

// Fail records a failure and returns the lockout it starts (0 if none).
func (t *Throttle) Fail(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	if len(t.m) > 10000 { // bound memory under a flood of names
		for k, e := range t.m {
			if now.Sub(e.last) > t.Max {
				delete(t.m, k)
			}
		}
	}
	e, ok := t.m[key]
	if !ok {
		e = &throttleEntry{}
		t.m[key] = e
	}
	if now.Sub(e.last) > 24*time.Hour {
		e.fails = 0
	}
	e.fails++
	e.last = now
	if e.fails < t.Free {
		return 0
	}
	d := t.Base
	for i := t.Free; i < e.fails && d < t.Max; i++ {
		d *= 2
	}
	d = min(d, t.Max)
	e.until = now.Add(d)
	return d
}

// Success clears key.
func (t *Throttle) Success(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}
