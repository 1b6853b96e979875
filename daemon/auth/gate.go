package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitError is a refusal that tells the client when to come back: Err is
// ErrLocked (the user and address failed too often) or ErrBusy (the
// password checks are all taken).
type WaitError struct {
	Err  error
	Wait time.Duration
	// Checked: the password was checked, was wrong, and this failure
	// started the lock.
	Checked bool
}

func (e *WaitError) Error() string { return fmt.Sprintf("%v (retry in %v)", e.Err, e.Wait) }
func (e *WaitError) Unwrap() error { return e.Err }

// Gate checks passwords for logins and password changes: every check is
// throttled per user and address, reserved before hashing, slowed down by
// the global failure rate and run on the store's bounded hashing pool.
type Gate struct {
	Store    *Store
	Throttle *Throttle
}

// Check authenticates name with password for a client at addr. Errors:
// ErrBadPassword, or a *WaitError wrapping ErrLocked or ErrBusy.
func (g *Gate) Check(ctx context.Context, name, password, addr string) (User, error) {
	if !ValidName(name) || len(password) > MaxPasswordBytes {
		// No such account can exist: neither the throttle nor the
		// hasher is touched (a 1 MB name costs nothing to keep).
		return User{}, ErrBadPassword
	}
	a, wait := g.Throttle.Begin(KeyOf("login", name, addr))
	if a == nil {
		return User{}, &WaitError{Err: ErrLocked, Wait: wait}
	}
	u, err := g.Store.authenticate(ctx, g.Throttle.GlobalDelay(), name, password)
	switch {
	case err == nil:
		a.Succeeded()
		return u, nil
	case errors.Is(err, ErrBadPassword):
		if d := a.Failed(); d > 0 {
			return User{}, &WaitError{Err: ErrLocked, Wait: d, Checked: true}
		}
		return User{}, ErrBadPassword
	case errors.Is(err, ErrBusy):
		a.Cancel()
		return User{}, &WaitError{Err: ErrBusy, Wait: BusyRetryAfter}
	default:
		a.Cancel()
		return User{}, err
	}
}
