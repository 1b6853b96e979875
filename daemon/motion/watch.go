package motion

import (
	"time"

	"github.com/matthan/matthan/daemon/mbmap"
	"github.com/matthan/matthan/daemon/media"
)

// Analyzer fills a macroblock map from an access unit's NAL units; the
// H.264 analyser of daemon/h264/mb is one. Parameter sets update its state.
type Analyzer interface {
	Analyze(au [][]byte, out *mbmap.Frame) error
}

// Watcher is a media.Sink that analyses a camera's H.264 pictures at the
// detector's analysis rate, feeds the detector, and passes every access
// unit on to next (a Gate in front of the recorder, or nil). Pictures it
// does not analyse cost nothing but a look at their NAL unit types.
type Watcher struct {
	Det      *Detector
	Analyzer Analyzer
	Next     media.Sink

	stream   media.Stream
	due      time.Duration
	frame    mbmap.Frame
	params   [][]byte
	Analysed int // pictures analysed
	Errors   int // pictures the analyser could not parse
}

// StreamStarted implements media.Sink.
func (w *Watcher) StreamStarted(s media.Stream) error {
	w.stream, w.due = s, 0
	if s.Codec == media.H264 {
		var ps [][]byte
		if len(s.SPS) > 0 {
			ps = append(ps, s.SPS)
		}
		if len(s.PPS) > 0 {
			ps = append(ps, s.PPS)
		}
		if len(ps) > 0 {
			_ = w.Analyzer.Analyze(ps, &w.frame)
		}
	}
	if w.Next != nil {
		return w.Next.StreamStarted(s)
	}
	return nil
}

// WriteAccessUnit implements media.Sink.
func (w *Watcher) WriteAccessUnit(au *media.AccessUnit) error {
	if w.stream.Codec == media.H264 && w.Analyzer != nil && w.Det != nil {
		w.observe(au)
	}
	if w.Next != nil {
		return w.Next.WriteAccessUnit(au)
	}
	return nil
}

func (w *Watcher) observe(au *media.AccessUnit) {
	if au.Key && w.Det.NeedKeyFrame(w.stream.Epoch.Add(au.PTS)) {
		if err := w.Analyzer.Analyze(au.NALUs, &w.frame); err == nil {
			w.Det.Observe(w.stream.Epoch.Add(au.PTS), &w.frame)
		}
		return
	}
	if au.Key || au.DTS < w.due {
		// Key frames carry no motion; only their parameter sets matter.
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

// StreamEnded implements media.Sink.
func (w *Watcher) StreamEnded(err error) {
	if w.Det != nil {
		w.Det.Close(w.stream.Epoch.Add(w.due))
	}
	if w.Next != nil {
		w.Next.StreamEnded(err)
	}
}
