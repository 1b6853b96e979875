// Package stream is what every camera publishes: its stream (codec,
// parameter sets, the wall-clock epoch of its timestamps) and its access
// units (and audio units, to readers whose sink is a media.AudioSink), handed to each reader — the recorder's path (motion watcher,
// gate, recorder), the live hub, anything else — through a bounded queue
// of its own, drained by a goroutine of its own.
//
// The camera (ingest) never waits for a reader: a reader whose queue is
// full (slow, or stuck) is cut — the access unit is not queued for it —
// and it resumes at the next key frame once its queue has room, with the
// stream started again for it if it changed meanwhile. The other readers
// see nothing of it. Each access unit is copied once (into a pooled
// buffer) and shared by every reader: readers must not modify it, and may
// keep it only until WriteAccessUnit returns, as media.Sink says.
package stream

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/matthan/matthan/daemon/media"
)

// Defaults of ReaderOptions.
const (
	DefaultQueue = 64
	DefaultBytes = 8 << 20
)

// ReaderOptions bound a reader's queue.
type ReaderOptions struct {
	// Queue is how many access units may wait (DefaultQueue if zero).
	Queue int
	// Bytes is how many bytes of access units may wait (DefaultBytes if
	// zero).
	Bytes int
}

// ReaderStats count what a reader got and missed.
type ReaderStats struct {
	Delivered uint64 `json:"delivered"` // access units handed to the sink
	Dropped   uint64 `json:"dropped"`   // access units not queued for it (cut, or waiting for a key frame)
	Cuts      uint64 `json:"cuts"`      // times its queue was full
	Errors    uint64 `json:"errors"`    // errors its sink returned
}

type kind int

const (
	kStart kind = iota
	kAU
	kEnd
	kAudio
)

type item struct {
	kind   kind
	stream *media.Stream // kStart's (shared, never changed: a queue slot stays small)
	au     *shared
	err    error
	size   int
}

// shared is one access unit's copy, handed to every reader that queued
// it; the last one done with it gives it back to the pool.
type shared struct {
	au   media.AccessUnit
	buf  []byte
	refs atomic.Int32
}

// The copies are pooled by size class (powers of two from 4 KiB): a pool
// of one size would end up with every buffer as large as the largest key
// frame of any camera, while most pictures are a tenth of that.
const (
	minClass = 12 // 4 KiB
	classes  = 12 // up to 8 MiB; larger ones are not pooled
)

var pools [classes]sync.Pool

// class is the size class of a copy of size bytes (classes: none).
func class(size int) int {
	c := max(bits.Len(uint(max(size, 1)-1)), minClass) - minClass
	return min(c, classes)
}

func (s *shared) release() {
	if s.refs.Add(-1) == 0 {
		if c := class(cap(s.buf)); c < classes && cap(s.buf) == 1<<(c+minClass) {
			pools[c].Put(s)
		}
	}
}

// copyAU copies au's NAL units into one buffer (a pooled one of its size
// class, reused once every reader is done with it); the publisher holds
// one reference.
func copyAU(au *media.AccessUnit) *shared {
	size := 0
	for _, n := range au.NALUs {
		size += len(n)
	}
	c := class(size)
	var s *shared
	if c < classes {
		s, _ = pools[c].Get().(*shared)
	}
	if s == nil {
		s = new(shared)
		n := size
		if c < classes {
			n = 1 << (c + minClass)
		}
		s.buf = make([]byte, 0, n)
	}
	s.buf = au.CopyTo(&s.au, s.buf, 0)
	s.refs.Store(1)
	return s
}

// Reader is one reader's queue and goroutine.
type Reader struct {
	name  string
	sink  media.Sink
	audio media.AudioSink // sink, when it takes audio
	q     chan item
	bytes atomic.Int64
	limit int64
	done  chan struct{}

	// The publisher's side (under Publisher.mu).
	gen     uint64 // the stream generation last started for it
	open    bool   // a start was queued without its end
	waitKey bool   // cut: nothing until the next key frame

	delivered, dropped, cuts, errors atomic.Uint64
}

// Name is the reader's name (as given to Add).
func (r *Reader) Name() string { return r.name }

// Stats returns the reader's counters.
func (r *Reader) Stats() ReaderStats {
	return ReaderStats{Delivered: r.delivered.Load(), Dropped: r.dropped.Load(), Cuts: r.cuts.Load(), Errors: r.errors.Load()}
}

func (r *Reader) run() {
	defer close(r.done)
	for it := range r.q {
		switch it.kind {
		case kStart:
			if r.sink.StreamStarted(*it.stream) != nil {
				r.errors.Add(1)
			}
		case kAU:
			if r.sink.WriteAccessUnit(&it.au.au) != nil {
				r.errors.Add(1)
			}
			it.au.release()
			r.delivered.Add(1)
			r.bytes.Add(-int64(it.size))
		case kEnd:
			r.sink.StreamEnded(it.err)
		case kAudio:
			u := media.AudioUnit{PTS: it.au.au.DTS, Data: it.au.au.NALUs[0]}
			if r.audio.WriteAudio(&u) != nil {
				r.errors.Add(1)
			}
			it.au.release()
			r.bytes.Add(-int64(it.size))
		}
	}
}

// room reports whether n more items of size bytes fit (only the publisher
// adds, so the answer holds until it adds).
func (r *Reader) room(n, size int) bool {
	return len(r.q)+n <= cap(r.q) && (r.bytes.Load()+int64(size) <= r.limit || len(r.q) == 0)
}

// Publisher is one camera's fan-out: a media.Sink for its ingest.
type Publisher struct {
	mu      sync.Mutex
	readers []*Reader
	stream  media.Stream
	started *media.Stream // a copy of stream for the readers' queues
	gen     uint64        // counts streams; 0: none yet
	live    bool          // a stream is running
	closed  bool
	one     [1][]byte // WriteAudio's unit as one NAL unit, for copyAU
}

// New returns a publisher without readers.
func New() *Publisher { return &Publisher{} }

// Add starts a reader: sink gets, in order and from one goroutine of its
// own, the stream and its access units from the next key frame on.
func (p *Publisher) Add(name string, sink media.Sink, opt ReaderOptions) *Reader {
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if opt.Bytes <= 0 {
		opt.Bytes = DefaultBytes
	}
	// Room for an end and a start beside the access units.
	r := &Reader{name: name, sink: sink, q: make(chan item, opt.Queue+2), limit: int64(opt.Bytes), done: make(chan struct{})}
	r.audio, _ = sink.(media.AudioSink)
	go r.run()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		close(r.q)
		return r
	}
	p.readers = append(p.readers, r)
	return r
}

// Remove ends a reader: what it has queued is delivered (with the stream's
// end), then its goroutine stops. Remove waits for that.
func (p *Publisher) Remove(r *Reader) {
	p.mu.Lock()
	i := -1
	for j, x := range p.readers {
		if x == r {
			i = j
		}
	}
	if i < 0 {
		p.mu.Unlock()
		<-r.done
		return
	}
	p.readers = append(p.readers[:i], p.readers[i+1:]...)
	p.mu.Unlock()
	finish(r)
	<-r.done
}

// finish queues the stream's end if owed (waiting for room: the reader is
// draining) and closes the queue. The reader is no longer in the
// publisher's list: nothing else sends to it.
func finish(r *Reader) {
	if r.open {
		r.q <- item{kind: kEnd}
		r.open = false
	}
	close(r.q)
}

// Close ends every reader after what it has queued (the recorder writes
// every picture it was given) and waits for them. Call it after the
// camera's ingest has stopped.
func (p *Publisher) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	rs := p.readers
	p.readers = nil
	p.mu.Unlock()
	for _, r := range rs {
		finish(r)
	}
	for _, r := range rs {
		<-r.done
	}
}

// Readers returns the current readers.
func (p *Publisher) Readers() []*Reader {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Reader(nil), p.readers...)
}

// StreamStarted implements media.Sink: each reader gets the stream with
// its next key frame.
func (p *Publisher) StreamStarted(s media.Stream) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stream, p.live = s, true
	p.started = &s
	p.gen++
	return nil
}

// WriteAccessUnit implements media.Sink: it never blocks on a reader.
func (p *Publisher) WriteAccessUnit(au *media.AccessUnit) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.live {
		return nil
	}
	var sh *shared
	size := 0
	for _, n := range au.NALUs {
		size += len(n)
	}
	for _, r := range p.readers {
		fresh := r.gen != p.gen // the reader has not got this stream yet
		if (r.waitKey || fresh) && !au.Key {
			r.dropped.Add(1)
			continue
		}
		need := 1
		if fresh {
			need++ // its start
			if r.open {
				need++ // the end of its previous stream
			}
		}
		if !r.room(need, size) {
			if !r.waitKey {
				r.cuts.Add(1)
			}
			r.waitKey = true
			r.dropped.Add(1)
			continue
		}
		if sh == nil {
			sh = copyAU(au)
		}
		if fresh {
			if r.open {
				r.q <- item{kind: kEnd}
			}
			r.q <- item{kind: kStart, stream: p.started}
			r.gen, r.open = p.gen, true
		}
		r.waitKey = false
		r.bytes.Add(int64(size))
		sh.refs.Add(1)
		r.q <- item{kind: kAU, au: sh, size: size}
	}
	if sh != nil {
		sh.release() // the publisher's reference
	}
	return nil
}

// WriteAudio implements media.AudioSink: the unit goes to each reader whose
// sink takes audio and that has the stream running (it follows the
// pictures: none before its first key frame, none while it is cut), in
// the same queue as the pictures, so it never blocks on a reader either.
func (p *Publisher) WriteAudio(u *media.AudioUnit) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.live || p.stream.Audio == nil {
		return nil
	}
	var sh *shared
	for _, r := range p.readers {
		if r.audio == nil || r.gen != p.gen || !r.open || r.waitKey {
			continue
		}
		if !r.room(1, len(u.Data)) {
			r.dropped.Add(1)
			continue
		}
		if sh == nil {
			p.one[0] = u.Data
			sh = copyAU(&media.AccessUnit{DTS: u.PTS, PTS: u.PTS, NALUs: p.one[:]})
			p.one[0] = nil
		}
		r.bytes.Add(int64(len(u.Data)))
		sh.refs.Add(1)
		r.q <- item{kind: kAudio, au: sh, size: len(u.Data)}
	}
	if sh != nil {
		sh.release()
	}
	return nil
}

// StreamEnded implements media.Sink: each reader that has the stream gets
// its end (now if its queue has room, else before its next start).
func (p *Publisher) StreamEnded(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live = false
	for _, r := range p.readers {
		if r.open && r.gen == p.gen && len(r.q) < cap(r.q) {
			r.q <- item{kind: kEnd, err: err}
			r.open = false
		}
	}
}
