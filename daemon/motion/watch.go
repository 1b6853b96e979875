package motion

import (
	"context"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/daemon/media"
)

// Analyzer fills a macroblock map from an access unit's NAL units; the
// H.264 analyser of daemon/h264/mb is one. Parameter sets update its state.
type Analyzer interface {
	Analyze(au [][]byte, out *mbmap.Frame) error
}

// HeaderAnalyzer is an Analyzer that can also take a cheap look at the
// pictures it does not analyse: parameter sets and the first slice header
// (mb.Analyzer.SkipHeader). The Watcher passes it every such picture, so
// that the detector sees the weights of weighted prediction of each.
type HeaderAnalyzer interface {
	Analyzer
	SkipHeader(au [][]byte, out *mbmap.Frame) error
	// PeekHeader fills the header fields without taking note of the
	// picture (the key frame is then analysed or skipped).
	PeekHeader(au [][]byte, out *mbmap.Frame) error
}

// headPrefix is how much of a slice NAL unit a header look needs.
const headPrefix = 256

// Watcher is a media.Sink that analyses a camera's H.264 pictures at the
// detector's analysis rate, feeds the detector, and passes every access
// unit on to next (a Gate in front of the recorder, or nil). Pictures it
// does not analyse cost nothing but a look at their NAL unit types.
type Watcher struct {
	Det      *Detector
	Analyzer Analyzer
	Next     media.Sink

	// Queue, when above zero, moves the analysis to a goroutine of its own
	// (Run) with room for that many pictures: the camera's pictures reach
	// Next without ever waiting for the analyser, and when the analyser
	// falls behind (a slow box, many cameras) pictures are left out of the
	// analysis, never out of the recording. Zero analyses inline.
	Queue int

	stream   media.Stream
	due      time.Duration
	frame    mbmap.Frame
	head     mbmap.Frame // header fields of pictures not analysed
	params   [][]byte
	Analysed int // pictures analysed
	Errors   int // pictures the analyser could not parse
	// KeysSkipped counts key frames only looked at (their header).
	KeysSkipped int

	// Queue mode: qdue is the ingest side's next analysis time; jobs carry
	// copies of pictures (and stream starts/ends) to Run; free recycles
	// the picture buffers. Dropped counts pictures left out of analysis.
	qdue   time.Duration
	qcodec media.Codec
	qepoch time.Time
	// Peek, in queue mode, reads the headers of the pictures not analysed
	// on the ingest side (PeekHeader: parameter sets and first slice
	// header, a few hundred bytes): their figures ride along with the next
	// analysed picture instead of waking the analysis for each. Nil: they
	// go through the queue as header-only jobs.
	Peek    HeaderAnalyzer
	peekF   mbmap.Frame
	hdrs    []headInfo // looked at since the last job
	qonce   sync.Once
	jobs    chan *watchJob
	free    chan *watchJob
	Dropped int
}

// headInfo is the header figures of a picture not analysed.
type headInfo struct {
	t time.Time
	f mbmap.Frame // without MBs
}

// maxHeads bounds the header figures waiting for the next job.
const maxHeads = 64

// watchJob is one message to the analysis goroutine.
type watchJob struct {
	kind   int // jobPicture, jobStart, jobEnd, jobHeader
	stream media.Stream
	au     media.AccessUnit
	buf    []byte
	// bytes is the picture's slice NAL units' size (a header job carries
	// only their first bytes).
	bytes int
	// hdrs: the header figures of the pictures before this one that were
	// not analysed (Peek).
	hdrs []headInfo
}

const (
	jobPicture = iota
	jobStart
	jobEnd
	jobHeader // a picture not analysed: its slice headers only
)

// initQueue makes the queue's channels, once.
func (w *Watcher) initQueue() {
	w.qonce.Do(func() {
		w.jobs = make(chan *watchJob, w.Queue+16)
		w.free = make(chan *watchJob, w.Queue)
		for i := 0; i < w.Queue; i++ {
			w.free <- &watchJob{}
		}
	})
}

// Pending is how many jobs (pictures, stream starts and ends) wait for
// Run in queue mode.
func (w *Watcher) Pending() int { return len(w.jobs) }

// Run analyses queued pictures until ctx ends (Queue mode only; call it in
// a goroutine of its own before the first picture, and wait for it before
// closing the detector).
func (w *Watcher) Run(ctx context.Context) {
	w.initQueue()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-w.jobs:
			switch j.kind {
			case jobStart:
				w.startAnalysis(j.stream)
			case jobEnd:
				if w.Det != nil {
					w.Det.Close(w.stream.Epoch.Add(j.au.DTS))
				}
			case jobPicture:
				for i := range j.hdrs {
					w.Det.ObserveHeader(j.hdrs[i].t, &j.hdrs[i].f)
				}
				w.due = 0 // the ingest side already chose this picture
				w.observe(&j.au)
				j.au.NALUs = j.au.NALUs[:0]
				w.free <- j
			case jobHeader:
				w.observeHeader(&j.au, j.bytes)
				j.au.NALUs = j.au.NALUs[:0]
				w.free <- j
			}
		}
	}
}

// enqueue copies au for the analysis goroutine, or drops it when every
// buffer is in use.
func (w *Watcher) enqueue(au *media.AccessUnit, kind int) {
	var j *watchJob
	select {
	case j = <-w.free:
	default:
		w.Dropped++
		return
	}
	j.bytes = sliceBytes(au.NALUs)
	j.hdrs, w.hdrs = w.hdrs, j.hdrs[:0]
	j.kind = kind
	limit := 0
	if kind == jobHeader {
		limit = headPrefix
	}
	j.buf = au.CopyTo(&j.au, j.buf, limit)
	w.jobs <- j // never blocks: at most Queue pictures are out
}

// StreamStarted implements media.Sink.
func (w *Watcher) StreamStarted(s media.Stream) error {
	if w.Queue > 0 {
		w.initQueue()
		w.qcodec, w.qdue, w.qepoch = s.Codec, 0, s.Epoch
		w.hdrs = w.hdrs[:0]
		if w.Peek != nil && s.Codec == media.H264 && len(s.SPS) > 0 && len(s.PPS) > 0 {
			_ = w.Peek.PeekHeader([][]byte{s.SPS, s.PPS}, &w.peekF)
		}
		w.jobs <- &watchJob{kind: jobStart, stream: s}
	} else {
		w.startAnalysis(s)
	}
	if w.Next != nil {
		return w.Next.StreamStarted(s)
	}
	return nil
}

// startAnalysis resets the analysis for a new stream and hands the
// analyser the SDP's parameter sets.
func (w *Watcher) startAnalysis(s media.Stream) {
	w.stream, w.due = s, 0
	if w.Det != nil {
		w.Det.StreamStarted()
	}
	if s.Codec == media.H264 {
		var ps [][]byte
		if len(s.SPS) > 0 {
			ps = append(ps, s.SPS)
		}
		if len(s.PPS) > 0 {
			ps = append(ps, s.PPS)
		}
		if len(ps) > 0 && w.Analyzer != nil {
			_ = w.Analyzer.Analyze(ps, &w.frame)
		}
	}
}

// WriteAccessUnit implements media.Sink.
func (w *Watcher) WriteAccessUnit(au *media.AccessUnit) error {
	if w.Queue > 0 {
		if w.qcodec == media.H264 && w.Analyzer != nil && w.Det != nil {
			// Key frames always go (their parameter sets matter, and the
			// detector may want one); other pictures at the analysis rate.
			if w.Peek != nil && hasParams(au.NALUs) {
				_ = w.Peek.PeekHeader(au.NALUs, &w.peekF) // its parameter sets
			}
			if au.Key {
				w.enqueue(au, jobPicture)
			} else if au.DTS >= w.qdue {
				iv := w.Det.Interval()
				w.qdue += iv
				if w.qdue <= au.DTS {
					w.qdue = au.DTS + iv
				}
				w.enqueue(au, jobPicture)
			} else if w.Peek != nil && !hasParams(au.NALUs) {
				if w.Peek.PeekHeader(au.NALUs, &w.peekF) == nil {
					if len(w.hdrs) >= maxHeads {
						w.hdrs = append(w.hdrs[:0], w.hdrs[1:]...)
					}
					w.hdrs = append(w.hdrs, headInfo{t: w.qepoch.Add(au.PTS), f: w.peekF})
				}
			} else if _, ok := w.Analyzer.(HeaderAnalyzer); ok {
				w.enqueue(au, jobHeader)
			}
		}
	} else if w.stream.Codec == media.H264 && w.Analyzer != nil && w.Det != nil {
		w.observe(au)
	}
	if w.Next != nil {
		return w.Next.WriteAccessUnit(au)
	}
	return nil
}

func (w *Watcher) observe(au *media.AccessUnit) {
	if au.Key {
		t := w.stream.Epoch.Add(au.PTS)
		if ha, ok := w.Analyzer.(HeaderAnalyzer); ok {
			// A key frame whose size and QP look like the scene's is
			// only looked at (WantKeyFrame).
			if err := ha.PeekHeader(au.NALUs, &w.head); err == nil && !w.Det.WantKeyFrame(t, &w.head) {
				w.KeysSkipped++
				w.observeHeader(au, sliceBytes(au.NALUs))
				return
			}
		}
		if err := w.Analyzer.Analyze(au.NALUs, &w.frame); err == nil {
			w.Det.Observe(t, &w.frame)
		}
		return
	}
	if au.Key || au.DTS < w.due {
		if !au.Key {
			if _, ok := w.Analyzer.(HeaderAnalyzer); ok {
				w.observeHeader(au, sliceBytes(au.NALUs))
				return
			}
		}
		// Only the parameter sets matter.
		w.params = w.params[:0]
		for _, n := range au.NALUs {
			if len(n) > 0 && (n[0]&0x1f == 7 || n[0]&0x1f == 8) {
				w.params = append(w.params, n)
			}
		}
		if len(w.params) > 0 {
			_ = w.Analyzer.Analyze(w.params, &w.frame)
		}
		return
	}
	iv := w.Det.Interval()
	w.due += iv
	if w.due <= au.DTS {
		w.due = au.DTS + iv // fell behind (gap in the stream): resync
	}
	if err := w.Analyzer.Analyze(au.NALUs, &w.frame); err != nil {
		w.Errors++
		return
	}
	w.Analysed++
	w.Det.Observe(w.stream.Epoch.Add(au.PTS), &w.frame)
}

// observeHeader gives the detector a picture's header fields (size,
// weights). bytes is the size of its slice NAL units, which au may carry
// only the first bytes of.
func (w *Watcher) observeHeader(au *media.AccessUnit, bytes int) {
	ha := w.Analyzer.(HeaderAnalyzer)
	if err := ha.SkipHeader(au.NALUs, &w.head); err == nil {
		w.head.Bytes = bytes
		w.Det.ObserveHeader(w.stream.Epoch.Add(au.PTS), &w.head)
	}
}

// hasParams reports whether an access unit carries an SPS or PPS.
func hasParams(nalus [][]byte) bool {
	for _, nal := range nalus {
		if len(nal) > 0 && (nal[0]&0x1f == 7 || nal[0]&0x1f == 8) {
			return true
		}
	}
	return false
}

// sliceBytes is the size of an access unit's slice NAL units.
func sliceBytes(nalus [][]byte) int {
	n := 0
	for _, nal := range nalus {
		if len(nal) > 0 && (nal[0]&0x1f == 1 || nal[0]&0x1f == 5) {
			n += len(nal)
		}
	}
	return n
}

// WriteAudio implements media.AudioSink: sound goes straight on to Next.
func (w *Watcher) WriteAudio(u *media.AudioUnit) error {
	if as, ok := w.Next.(media.AudioSink); ok {
		return as.WriteAudio(u)
	}
	return nil
}

// StreamEnded implements media.Sink.
func (w *Watcher) StreamEnded(err error) {
	if w.Queue > 0 {
		w.initQueue()
		w.jobs <- &watchJob{kind: jobEnd, au: media.AccessUnit{DTS: w.qdue}}
	} else if w.Det != nil {
		w.Det.Close(w.stream.Epoch.Add(w.due))
	}
	if w.Next != nil {
		w.Next.StreamEnded(err)
	}
}
