package auth

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"sync"
	"time"
)

// ThrottleKey names what a throttle counts failures for. It is a hash of
// its parts, so a key costs 16 bytes whatever the client sent.
type ThrottleKey [16]byte

// KeyOf makes a key from parts (for example "login", user, address); parts
// are length-prefixed, so ("ab","c") and ("a","bc") differ.
func KeyOf(parts ...string) ThrottleKey {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var k ThrottleKey
	copy(k[:], h.Sum(nil))
	return k
}

// Throttle slows down password guessing. Each key (a user and an address)
// may fail Free times; the Free-th failure locks the key for Base, doubling
// with each further failure up to Max. A success clears the key.
//
// A failure is reserved (Begin) before the password is checked, so
// parallel attempts cannot all pass the check before the first failure is
// counted: at most Free of them are ever checked.
//
// The table holds at most Cap keys. When it is full, keys whose lock has
// run out and that were quiet for Max go first; then the key with the
// fewest failures (the oldest among equals). A locked key is thus evicted
// only when every key in the table has at least as many failures: to push
// out one locked key an attacker must first fail Free times on Cap other
// keys, each failure a real password check through the bounded HashPool,
// under the global slow-down.
//
// All failures together feed a global rate (decaying with a time constant
// of a minute); past GlobalFree it costs every check GlobalStep per extra
// failure, up to GlobalMax (see GlobalDelay). This slows a guesser who
// spreads over many users or addresses without locking anyone out.
type Throttle struct {
	Free                  int
	Base, Max             time.Duration
	Cap                   int
	GlobalFree            float64
	GlobalStep, GlobalMax time.Duration
	Now                   func() time.Time

	mu       sync.Mutex
	m        map[ThrottleKey]*throttleEntry
	global   float64
	globalAt time.Time
}

type throttleEntry struct {
	fails int
	until time.Time
	last  time.Time
}

// NewThrottle locks a key for 30 s after 5 failures, up to 15 minutes, and
// keeps at most 4,096 keys; past 30 failures a minute in all, each check
// waits 100 ms per extra failure, at most 2 s.
func NewThrottle() *Throttle {
	return &Throttle{Free: 5, Base: 30 * time.Second, Max: 15 * time.Minute, Cap: 4096,
		GlobalFree: 30, GlobalStep: 100 * time.Millisecond, GlobalMax: 2 * time.Second,
		Now: time.Now, m: map[ThrottleKey]*throttleEntry{}}
}

// Attempt is one reserved failure: end it with Succeeded, Failed or Cancel.
type Attempt struct {
	t         *Throttle
	key       ThrottleKey
	prevUntil time.Time
	done      bool
}

// Begin reserves a failure for key. When the key is locked it returns nil
// and how long it must still wait.
func (t *Throttle) Begin(key ThrottleKey) (*Attempt, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	e, ok := t.m[key]
	if ok {
		if d := e.until.Sub(now); d > 0 {
			return nil, d
		}
		if now.Sub(e.last) > 24*time.Hour {
			e.fails = 0
		}
	} else {
		t.makeRoomLocked(now)
		e = &throttleEntry{}
		t.m[key] = e
	}
	a := &Attempt{t: t, key: key, prevUntil: e.until}
	e.fails++
	e.last = now
	if e.fails >= t.Free {
		d := t.Base
		for i := t.Free; i < e.fails && d < t.Max; i++ {
			d *= 2
		}
		e.until = now.Add(min(d, t.Max))
	}
	t.addGlobalLocked(now, 1)
	return a, 0
}

func (t *Throttle) makeRoomLocked(now time.Time) {
	if t.Cap <= 0 || len(t.m) < t.Cap {
		return
	}
	for k, e := range t.m {
		if !e.until.After(now) && now.Sub(e.last) > t.Max {
			delete(t.m, k)
		}
	}
	for len(t.m) >= t.Cap {
		var victim ThrottleKey
		var ve *throttleEntry
		for k, e := range t.m {
			if ve == nil || e.fails < ve.fails || (e.fails == ve.fails && e.last.Before(ve.last)) {
				victim, ve = k, e
			}
		}
		delete(t.m, victim)
	}
}

func (t *Throttle) addGlobalLocked(now time.Time, n float64) {
	if !t.globalAt.IsZero() {
		if dt := now.Sub(t.globalAt); dt > 0 {
			t.global *= math.Exp(-dt.Seconds() / 60)
		}
	}
	t.globalAt = now
	t.global = max(t.global+n, 0)
}

// GlobalDelay is how long a password check waits now because of the
// failures of the last minutes in all (0 below GlobalFree).
func (t *Throttle) GlobalDelay() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addGlobalLocked(t.Now(), 0)
	over := t.global - t.GlobalFree
	if over <= 0 {
		return 0
	}
	return min(time.Duration(over*float64(t.GlobalStep)), t.GlobalMax)
}

// end runs f once under the throttle's lock; later calls do nothing.
func (a *Attempt) end(f func(t *Throttle, now time.Time)) {
	if a == nil || a.done {
		return
	}
	a.done = true
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	f(a.t, a.t.Now())
}

// Succeeded clears the key: the password was right.
func (a *Attempt) Succeeded() {
	a.end(func(t *Throttle, now time.Time) {
		delete(t.m, a.key)
		t.addGlobalLocked(now, -1)
	})
}

// Failed keeps the reserved failure and returns the lock now in force on
// the key (0 if none).
func (a *Attempt) Failed() (lock time.Duration) {
	a.end(func(t *Throttle, now time.Time) {
		if e, ok := t.m[a.key]; ok {
			lock = max(e.until.Sub(now), 0)
		}
	})
	return lock
}

// Cancel gives the reserved failure back: the password was never checked
// (the pool was busy, the client went away).
func (a *Attempt) Cancel() {
	a.end(func(t *Throttle, now time.Time) {
		t.addGlobalLocked(now, -1)
		e, ok := t.m[a.key]
		if !ok {
			return
		}
		e.fails--
		e.until = a.prevUntil
		if e.fails <= 0 {
			delete(t.m, a.key)
		}
	})
}

// Len is the number of keys held (tests).
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
