package federation

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// CursorFile is the cursor's file name in the box's data folder.
const CursorFile = "district.cursor"

// Cursor is the outbox's place: the highest event Seq the district's
// JetStream acknowledged, such that every earlier one was acknowledged
// too. It is kept in a file (firmware/atomicfile: a power cut leaves the
// old or the new value) and moves only forward.
type Cursor struct {
	path    string
	mu      sync.Mutex // one write at a time
	acked   atomic.Uint64
	enabled atomic.Bool
}

// OpenCursor reads the cursor at path (0 when there is none). A damaged
// file is an error: starting from 0 would send the whole log again
// (harmless, the district drops repeats) but hides a fault.
func OpenCursor(path string) (*Cursor, error) {
	c := &Cursor{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("federation: read cursor: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("federation: cursor %s: %q is not a sequence number", path, b)
	}
	c.acked.Store(n)
	return c, nil
}

// Acked is the cursor.
func (c *Cursor) Acked() uint64 { return c.acked.Load() }

// Advance moves the cursor to seq (never back) and writes it down before
// returning.
func (c *Cursor) Advance(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq <= c.acked.Load() {
		return nil
	}
	if err := atomicfile.Write(c.path, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("federation: write cursor: %w", err)
	}
	c.acked.Store(seq)
	return nil
}

// Reset sets the cursor to seq, backwards too (a restored backup; the
// replay bench): the events after it are sent again and the district
// drops those it holds.
func (c *Cursor) Reset(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := atomicfile.Write(c.path, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("federation: write cursor: %w", err)
	}
	c.acked.Store(seq)
	return nil
}

// SetEnabled says whether a district is configured: only then does Hold
// keep events.
func (c *Cursor) SetEnabled(on bool) { c.enabled.Store(on) }

// Hold is search.Options.Hold: while a district is configured, events
// after the cursor are kept; otherwise nothing is held.
func (c *Cursor) Hold() uint64 {
	if !c.enabled.Load() {
		return math.MaxUint64
	}
	return c.acked.Load()
}
