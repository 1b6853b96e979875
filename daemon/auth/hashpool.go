package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrBusy means the password checks are all taken and the queue is full:
// the caller answers 503 with Retry-After (BusyRetryAfter).
var ErrBusy = errors.New("password checks busy, try again shortly")

// BusyRetryAfter is what a caller refused with ErrBusy is told to wait.
const BusyRetryAfter = 2 * time.Second

// HashPool bounds password hashing. Each argon2id hash takes
// DefaultHashParams.Memory (19 MiB) for its duration, so at most Workers run
// at once, at most Queue more wait (each at most MaxWait), and everything
// beyond is refused with ErrBusy at once: a flood of logins costs a bounded
// amount of memory and CPU, and recording keeps the rest.
type HashPool struct {
	// MaxWait is the longest a request waits in the queue for a worker.
	MaxWait time.Duration

	slots   chan struct{} // one per worker
	tickets chan struct{} // one per worker or queued request
	running atomic.Int64
	peak    atomic.Int64
	refused atomic.Int64
	done    atomic.Int64
}

// PoolStats counts what the pool did (tests and benchmarks read them).
type PoolStats struct {
	Running, Peak, Refused, Done int64
}

// DefaultHashWorkers and DefaultHashQueue: 2 hashes at once (38 MiB), 8 more
// waiting.
const (
	DefaultHashWorkers = 2
	DefaultHashQueue   = 8
)

// NewHashPool runs at most workers hashes at once with queue more waiting
// (at most 3 s each).
func NewHashPool(workers, queue int) *HashPool {
	workers = max(workers, 1)
	queue = max(queue, 0)
	return &HashPool{MaxWait: 3 * time.Second, slots: make(chan struct{}, workers), tickets: make(chan struct{}, workers+queue)}
}

// Do runs fn on a worker after waiting hold (the global slow-down) on it.
// It returns ErrBusy without running fn when the queue is full or the wait
// for a worker passes MaxWait, and ctx's error when ctx ends first.
func (p *HashPool) Do(ctx context.Context, hold time.Duration, fn func()) error {
	select {
	case p.tickets <- struct{}{}:
	default:
		p.refused.Add(1)
		return ErrBusy
	}
	defer func() { <-p.tickets }()
	t := time.NewTimer(p.MaxWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		p.refused.Add(1)
		return ErrBusy
	}
	defer func() { <-p.slots }()
	n := p.running.Add(1) // workers taken, the slow-down's wait included
	for {
		pk := p.peak.Load()
		if n <= pk || p.peak.CompareAndSwap(pk, n) {
			break
		}
	}
	defer p.running.Add(-1)
	if hold > 0 {
		// The slow-down holds the worker: it limits how many passwords
		// are checked per second in all, not only how late each answer is.
		h := time.NewTimer(hold)
		select {
		case <-h.C:
		case <-ctx.Done():
			h.Stop()
			return ctx.Err()
		}
	}
	fn()
	p.done.Add(1)
	return nil
}

// Stats returns the pool's counters.
func (p *HashPool) Stats() PoolStats {
	return PoolStats{Running: p.running.Load(), Peak: p.peak.Load(), Refused: p.refused.Load(), Done: p.done.Load()}
}
