package district

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/federation"
)

// fetch is a clip fetch under way or ended (shown on the clips page).
type fetch struct {
	Officer, Box, Camera string
	From, To, Started    time.Time
	Running              bool
	Error                string
	Refused              bool
}

// fetches keeps the recent fetches: at most maxRunning at once, the last
// maxKept shown.
type fetches struct {
	mu    sync.Mutex
	items []*fetch
}

const (
	maxRunning = 4
	maxKept    = 20
)

func (fs *fetches) add(f *fetch) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, x := range fs.items {
		if x.Running {
			n++
		}
	}
	if n >= maxRunning {
		return false
	}
	f.Running = true
	fs.items = append(fs.items, f)
	if len(fs.items) > maxKept {
		// Drop the oldest ended one.
		for i, x := range fs.items {
			if !x.Running {
				fs.items = slices.Delete(fs.items, i, i+1)
				break
			}
		}
	}
	return true
}

func (fs *fetches) done(f *fetch, err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.Running = false
	if err != nil {
		f.Error = err.Error()
		f.Refused = errors.Is(err, federation.ErrRefused)
	}
}

// list is the fetches, newest first (copies).
func (fs *fetches) list() []fetch {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]fetch, 0, len(fs.items))
	for i := len(fs.items) - 1; i >= 0; i-- {
		out = append(out, *fs.items[i])
	}
	return out
}
