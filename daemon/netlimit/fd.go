package netlimit

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises the process's soft descriptor limit (RLIMIT_NOFILE)
// to its hard limit and returns the soft limit now in force. (The Go
// runtime does the same at start; doing it here says what the limit is, and
// counts on nothing.) Init raises the hard limit for the daemon; see
// init/pid1.
func RaiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("descriptor limit: %w", err)
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return r.Cur, fmt.Errorf("raise the descriptor limit to %d: %w", r.Max, err)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("descriptor limit: %w", err)
	}
	return r.Cur, nil
}

// Budget splits a descriptor limit between the recorder and network
// clients.
type Budget struct {
	// Reserve is the descriptors kept for everything but client
	// connections: the recorder (cameras, segment files, journals), the
	// event index and logs, the runtime.
	Reserve int
	// PerConn is the descriptors one client connection may hold: its
	// socket, and a file while it downloads a recording or an export.
	PerConn int
	// Max caps the connections whatever the limit (memory: each holds
	// buffers and a goroutine).
	Max int
	// Min is the floor when the limit is too small for the reserve (the
	// page must stay reachable; the daemon warns).
	Min int
}

// Total is how many client connections fit in limit descriptors: (limit −
// Reserve) / PerConn, at most Max, at least Min. short says the reserve did
// not leave room for Min (the limit is too small for this box).
func (b Budget) Total(limit uint64) (n int, short bool) {
	per := max(b.PerConn, 1)
	free := int64(limit) - int64(b.Reserve)
	if limit > 1<<31 {
		free = 1 << 31
	}
	n64 := free / int64(per)
	if b.Max > 0 && n64 > int64(b.Max) {
		n64 = int64(b.Max)
	}
	if n64 < int64(b.Min) {
		return b.Min, true
	}
	return int(n64), false
}
