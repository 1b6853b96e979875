package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// Session is one logged-in browser. CSRF is the token every change request
// must carry (form field or X-CSRF-Token header).
type Session struct {
	Token    string
	CSRF     string
	User     string
	Created  time.Time
	LastSeen time.Time

	done chan struct{} // closed when the session ends
}

// Done is closed when the session ends (logout, expiry, password change or
// reset, account deleted): what it keeps open, such as live streams, ends
// with it.
func (se Session) Done() <-chan struct{} { return se.done }

// Sessions keeps logged-in browsers in memory; a restart logs everyone out.
type Sessions struct {
	// Idle and Max bound a session's life since its last use and its start.
	Idle, Max time.Duration
	Now       func() time.Time

	mu sync.Mutex
	m  map[string]*Session
}

// MaxSessionsPerUser bounds one user's sessions (browsers, phones, tabs
// after logins).
const MaxSessionsPerUser = 16

// NewSessions returns a session table with 2 h idle and 12 h absolute limits.
func NewSessions() *Sessions {
	return &Sessions{Idle: 2 * time.Hour, Max: 12 * time.Hour, Now: time.Now, m: map[string]*Session{}}
}

// RandomToken returns n random bytes, URL-safe base64.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the kernel's RNG never fails on Linux ≥ 3.17
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Create starts a session for user.
func (s *Sessions) Create(user string) Session {
	now := s.Now()
	se := &Session{Token: RandomToken(32), CSRF: RandomToken(24), User: user, Created: now, LastSeen: now, done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	// At most MaxPerUser sessions a user: a login loop with a right
	// password cannot fill memory; the least recently used one ends.
	var n int
	var oldest *Session
	for _, o := range s.m {
		if o.User == user {
			n++
			if oldest == nil || o.LastSeen.Before(oldest.LastSeen) {
				oldest = o
			}
		}
	}
	if n >= MaxSessionsPerUser && oldest != nil {
		s.endLocked(oldest.Token, oldest)
	}
	s.m[se.Token] = se
	return *se
}

func (s *Sessions) expireLocked(now time.Time) {
	for k, se := range s.m {
		if now.Sub(se.LastSeen) > s.Idle || now.Sub(se.Created) > s.Max {
			s.endLocked(k, se)
		}
	}
}

func (s *Sessions) endLocked(token string, se *Session) {
	delete(s.m, token)
	close(se.done)
}

// Expire ends the sessions past their idle or absolute limit. The web page
// calls it twice a second, so an expired session's live streams end within
// a second too.
func (s *Sessions) Expire() {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
}

// Run calls Expire every interval until ctx ends.
func (s *Sessions) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Expire()
		}
	}
}

// Get returns the live session for token and marks it used.
func (s *Sessions) Get(token string) (Session, bool) {
	if token == "" {
		return Session{}, false
	}
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[token]
	if !ok {
		return Session{}, false
	}
	if now.Sub(se.LastSeen) > s.Idle || now.Sub(se.Created) > s.Max {
		s.endLocked(token, se)
		return Session{}, false
	}
	se.LastSeen = now
	return *se, true
}

// Delete ends one session.
func (s *Sessions) Delete(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.m[token]; ok {
		s.endLocked(token, se)
	}
}

// DeleteUser ends every session of user (after a password reset or deletion).
func (s *Sessions) DeleteUser(user string) { s.DeleteUserExcept(user, "") }

// DeleteUserExcept ends every session of user but the one with token keep
// (after the user changed their own password in that session).
func (s *Sessions) DeleteUserExcept(user, keep string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, se := range s.m {
		if se.User == user && k != keep {
			s.endLocked(k, se)
		}
	}
}

// CheckCSRF compares a submitted token with the session's in constant time.
func (se Session) CheckCSRF(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(se.CSRF)) == 1
}

// SetLimits changes the idle and absolute limits (tests shorten them).
func (s *Sessions) SetLimits(idle, max time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Idle, s.Max = idle, max
}
