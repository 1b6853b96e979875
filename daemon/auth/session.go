package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// Session is one logged-in browser. CSRF is the token every change request
// must carry (form field or X-CSRF-Token header).
type Session struct {
	Token    string
	CSRF     string
	User     string
	Created  time.Time
	LastSeen time.Time
	// Remember: "Ghi nhớ đăng nhập", a session of RememberFor on a
	// personal phone, kept across restarts (Sessions.Path).
	Remember bool
	// Agent names the browser (from its User-Agent, cut short) for the
	// account page's list of devices.
	Agent string

	done chan struct{} // closed when the session ends
}

// RememberFor is a remembered session's life, idle or not.
const RememberFor = 30 * 24 * time.Hour

// ID is the session's public name (the account page lists and ends
// sessions by it): a hash of its token, which it does not reveal.
func (se Session) ID() string { return tokenID(se.Token) }

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func tokenID(token string) string { return tokenHash(token)[:16] }

// Info is a session as the account page lists it.
type Info struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"lastSeen"`
	Remember bool      `json:"remember"`
	Agent    string    `json:"agent"`
}

// Done is closed when the session ends (logout, expiry, password change or
// reset, account deleted): what it keeps open, such as live streams, ends
// with it.
func (se Session) Done() <-chan struct{} { return se.done }

// Sessions keeps logged-in browsers in memory; a restart logs everyone out
// but the remembered sessions, which are kept in the file Path (if set),
// by the SHA-256 of their token, never the token itself.
type Sessions struct {
	// Idle and Max bound a session's life since its last use and its start
	// (RememberFor for a remembered one).
	Idle, Max time.Duration
	Now       func() time.Time
	// Path keeps the remembered sessions ("" keeps nothing); Load reads it.
	Path string
	// OnSaveError reports a failed write of Path (the session still works
	// until a restart).
	OnSaveError func(error)

	mu sync.Mutex
	m  map[string]*Session // by tokenHash
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
func (s *Sessions) Create(user string) Session { return s.CreateWith(user, false, "") }

// CreateWith starts a session for user, remembered (RememberFor, kept
// across restarts) or not, naming its browser agent (cut at 80 bytes).
func (s *Sessions) CreateWith(user string, remember bool, agent string) Session {
	now := s.Now()
	if len(agent) > 80 {
		agent = agent[:80]
	}
	se := &Session{Token: RandomToken(32), CSRF: RandomToken(24), User: user, Created: now, LastSeen: now, Remember: remember, Agent: agent, done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if remember {
		defer s.saveLocked()
	}
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
		s.endLocked(tokenHash(oldest.Token), oldest)
	}
	s.m[tokenHash(se.Token)] = se
	return *se
}

func (s *Sessions) expiredLocked(se *Session, now time.Time) bool {
	idle, max := s.Idle, s.Max
	if se.Remember {
		idle, max = RememberFor, RememberFor
	}
	return now.Sub(se.LastSeen) > idle || now.Sub(se.Created) > max
}

func (s *Sessions) expireLocked(now time.Time) {
	for k, se := range s.m {
		if s.expiredLocked(se, now) {
			s.endLocked(k, se)
		}
	}
}

// endLocked ends the session stored under key (its token's hash).
func (s *Sessions) endLocked(key string, se *Session) {
	delete(s.m, key)
	close(se.done)
	if se.Remember {
		s.saveLocked()
	}
}

// savedSession is a remembered session in Path: the token's hash only.
type savedSession struct {
	Hash     string    `json:"hash"`
	CSRF     string    `json:"csrf"`
	User     string    `json:"user"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"lastSeen"`
	Agent    string    `json:"agent"`
}

func (s *Sessions) saveLocked() {
	if s.Path == "" {
		return
	}
	out := []savedSession{}
	for k, se := range s.m {
		if se.Remember {
			out = append(out, savedSession{Hash: k, CSRF: se.CSRF, User: se.User, Created: se.Created, LastSeen: se.LastSeen, Agent: se.Agent})
		}
	}
	b, _ := json.Marshal(out)
	if err := atomicfile.Write(s.Path, b, 0o600); err != nil && s.OnSaveError != nil {
		s.OnSaveError(fmt.Errorf("sessions: %w", err))
	}
}

// Load reads the remembered sessions from Path (a missing file is none);
// expired ones are dropped.
func (s *Sessions) Load() error {
	if s.Path == "" {
		return nil
	}
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	var in []savedSession
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("sessions %s: %w", s.Path, err)
	}
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range in {
		se := &Session{CSRF: v.CSRF, User: v.User, Created: v.Created, LastSeen: v.LastSeen, Remember: true, Agent: v.Agent, done: make(chan struct{})}
		if len(v.Hash) == 64 && v.User != "" && !s.expiredLocked(se, now) {
			s.m[v.Hash] = se
		}
	}
	return nil
}

// List returns user's live sessions, the most recently used first.
func (s *Sessions) List(user string) []Info {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	var out []Info
	for k, se := range s.m {
		if se.User == user {
			out = append(out, Info{ID: k[:16], Created: se.Created, LastSeen: se.LastSeen, Remember: se.Remember, Agent: se.Agent})
		}
	}
	for i := 1; i < len(out); i++ { // a few entries: insertion sort
		for j := i; j > 0 && out[j].LastSeen.After(out[j-1].LastSeen); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// EndID ends user's session named id (Session.ID); it reports whether
// there was one. Another user's session is never ended.
func (s *Sessions) EndID(user, id string) bool {
	if len(id) != 16 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, se := range s.m {
		if se.User == user && k[:16] == id {
			s.endLocked(k, se)
			return true
		}
	}
	return false
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
	key := tokenHash(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[key]
	if !ok {
		return Session{}, false
	}
	if s.expiredLocked(se, now) {
		s.endLocked(key, se)
		return Session{}, false
	}
	se.LastSeen = now
	c := *se
	c.Token = token // a session loaded from Path knows only the hash
	return c, true
}

// Delete ends one session.
func (s *Sessions) Delete(token string) {
	key := tokenHash(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.m[key]; ok {
		s.endLocked(key, se)
	}
}

// DeleteUser ends every session of user (after a password reset or deletion).
func (s *Sessions) DeleteUser(user string) { s.DeleteUserExcept(user, "") }

// DeleteUserExcept ends every session of user but the one with token keep
// (after the user changed their own password in that session).
func (s *Sessions) DeleteUserExcept(user, keep string) {
	keepKey := tokenHash(keep)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, se := range s.m {
		if se.User == user && (keep == "" || k != keepKey) {
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

// Resolve finds the session of token and its user, if the user exists and
// is not disabled: the first step of every page's guard (the box's and
// the district's).
func Resolve(sessions *Sessions, store *Store, token string) (Session, User, bool) {
	se, ok := sessions.Get(token)
	if !ok {
		return se, User{}, false
	}
	u, ok := store.User(se.User)
	if !ok || u.Disabled {
		return se, User{}, false
	}
	return se, u, true
}
