// Package logring keeps the newest lines a program wrote in a fixed amount
// of memory: the daemon's log on the box, readable from the serial console
// and through init's control socket without ever writing to the SD card.
package logring

import (
	"bytes"
	"sync"
)

// Ring holds up to Size bytes of whole lines; the oldest lines go first.
// It is an io.Writer safe for concurrent use. Writes without a trailing
// newline are held until the line completes (or grows past MaxLine).
type Ring struct {
	mu      sync.Mutex
	size    int
	lines   [][]byte
	used    int
	split   Lines
	dropped int64 // lines pushed out by newer ones
	notify  chan struct{}
}

// MaxLine caps a single line; longer ones are cut.
const MaxLine = 4096

// New returns a ring holding up to size bytes.
func New(size int) *Ring {
	if size < MaxLine {
		size = MaxLine
	}
	r := &Ring{size: size, notify: make(chan struct{})}
	r.split.Line = r.push
	return r
}

// Write appends p, split into lines.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.split.Write(p)
}

// Lines splits a byte stream into lines and hands each to Line, without
// its newline; Line must not keep the slice. A line is cut to MaxLine-1
// bytes, so a writer that never ends its line holds at most about MaxLine
// bytes (plus one Write). Not safe for concurrent use: the caller locks.
type Lines struct {
	Line    func(line []byte)
	partial []byte
}

// Write implements io.Writer.
func (l *Lines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = append(l.partial, p...)
			if len(l.partial) >= MaxLine {
				l.Line(l.partial[:MaxLine-1])
				l.partial = nil
			}
			break
		}
		line := append(l.partial, p[:i]...)
		if len(line) >= MaxLine {
			line = line[:MaxLine-1]
		}
		l.Line(line)
		l.partial = nil
		p = p[i+1:]
	}
	return n, nil
}

func (r *Ring) push(line []byte) {
	l := make([]byte, len(line)+1)
	copy(l, line)
	l[len(line)] = '\n'
	r.lines = append(r.lines, l)
	r.used += len(l)
	for r.used > r.size && len(r.lines) > 0 {
		r.used -= len(r.lines[0])
		r.lines[0] = nil
		r.lines = r.lines[1:]
		r.dropped++
	}
	close(r.notify)
	r.notify = make(chan struct{})
}

// Bytes returns a copy of the lines held, oldest first.
func (r *Ring) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]byte, 0, r.used)
	for _, l := range r.lines {
		out = append(out, l...)
	}
	return out
}

// Dropped is how many lines newer ones pushed out since the start.
func (r *Ring) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Changed returns a channel closed at the next completed line.
func (r *Ring) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notify
}
