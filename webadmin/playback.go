package webadmin

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/matthan/matthan/daemon/fmp4"
)

// Playback from a tapped time fetches only the fragments it needs: the
// segment's init segment followed by its fragments from the last key frame
// at or before ?from= (seconds of the segment's media time, as the video
// element's currentTime counts it) for ?for= seconds (default 8, at most
// 60), instead of the whole segment from its start (a one-minute main
// stream segment is tens of MB; a phone or the box under load took longer
// than retention left it). The page appends the answer to Media Source
// Extensions and asks for the next piece at X-Media-End with &next=1 (the
// fragments from that time on, no key frame needed: they follow what it
// has) as it plays.
const (
	fragDefaultFor = 8.0
	fragMaxFor     = 60.0
)

// fragRange picks fragments [start, end) of l covering [from, from+dur)
// seconds, start at a fragment holding a key frame no later than from (or,
// with next, the first fragment starting at from or later: a continuation).
// ok is false when from lies past the recording's end.
func fragRange(l fmp4.Layout, from, dur float64, next bool) (start, end int, ok bool) {
	ts := float64(l.Init.Timescale)
	if ts == 0 || len(l.Fragments) == 0 {
		return 0, 0, false
	}
	last := l.Fragments[len(l.Fragments)-1]
	if from*ts >= float64(last.BaseTime+last.Duration) {
		return 0, 0, false
	}
	fromT := uint64(math.Max(0, from*ts))
	if next {
		start = len(l.Fragments) - 1
	}
	for i, f := range l.Fragments {
		if next {
			if f.BaseTime+f.Duration/2 >= fromT { // rounding of the page's seconds
				start = i
				break
			}
			continue
		}
		t := f.BaseTime
		if t > fromT {
			break
		}
		for _, s := range f.Samples {
			if s.Key && t <= fromT {
				start = i
				break
			}
			t += uint64(s.Duration)
		}
	}
	toT := uint64(math.Max(0, (from+dur)*ts))
	end = start + 1
	for end < len(l.Fragments) && l.Fragments[end].BaseTime < toT {
		end++
	}
	return start, end, true
}

// serveFragments answers a playback request with ?from= (see above).
// Headers: X-Media-Start and X-Media-End (seconds) of what is sent,
// X-Segment-End where the segment's recording ends; 416 when from lies past
// it.
func (s *Server) serveFragments(w http.ResponseWriter, r *http.Request, rc *reqCtx, f io.ReadSeeker, file string) {
	q := r.URL.Query()
	from, err := strconv.ParseFloat(q.Get("from"), 64)
	if err != nil || math.IsNaN(from) || from < 0 || from > 86400 {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_time")
		return
	}
	dur := fragDefaultFor
	if v := q.Get("for"); v != "" {
		if dur, err = strconv.ParseFloat(v, 64); err != nil || !(dur > 0) {
			s.jsonError(w, rc, http.StatusBadRequest, "err_bad_time")
			return
		}
		dur = math.Min(dur, fragMaxFor)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		ra = seekReaderAt{f}
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", fmt.Errorf("playback %s/%s: size: %w", rc.camera, file, err))
		return
	}
	l, err := fmp4.ScanSegment(ra, size)
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", fmt.Errorf("playback %s/%s: %w", rc.camera, file, err))
		return
	}
	ts := float64(l.Init.Timescale)
	segEnd := 0.0
	if n := len(l.Fragments); n > 0 && ts > 0 {
		segEnd = float64(l.Fragments[n-1].BaseTime+l.Fragments[n-1].Duration) / ts
	}
	w.Header().Set("X-Segment-End", strconv.FormatFloat(segEnd, 'f', 3, 64))
	start, end, ok := fragRange(l, from, dur, q.Get("next") == "1")
	if !ok {
		s.jsonError(w, rc, http.StatusRequestedRangeNotSatisfiable, "err_not_found")
		return
	}
	first, last := l.Fragments[start], l.Fragments[end-1]
	if a := l.Init.Audio; a != nil {
		// AAC plays in the browser (the page declares it); LPCM (G.711
		// recorded) does not: MSE refuses such a track, so it is left out
		// and the page says so (exports keep it).
		w.Header().Set("X-Audio", a.SampleEntry)
		if a.SampleEntry != "mp4a" {
			s.servePlaybackWithoutAudio(w, r, rc, ra, size, l, start, end)
			return
		}
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Media-Start", strconv.FormatFloat(float64(first.BaseTime)/ts, 'f', 3, 64))
	w.Header().Set("X-Media-End", strconv.FormatFloat(float64(last.BaseTime+last.Duration)/ts, 'f', 3, 64))
	w.Header().Set("Content-Length", strconv.FormatInt(l.InitSize+last.End()-first.Offset, 10))
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, io.NewSectionReader(ra, 0, l.InitSize)); err != nil {
		return // the viewer went away
	}
	io.Copy(w, io.NewSectionReader(ra, first.Offset, last.End()-first.Offset))
}

// servePlaybackWithoutAudio is the playback piece of fragments [start,
// end) with the audio track taken out of the init segment and of every
// moof (fmp4.StripAudioInit, StripAudioMoof); the mdats go as they are.
func (s *Server) servePlaybackWithoutAudio(w http.ResponseWriter, r *http.Request, rc *reqCtx, ra io.ReaderAt, size int64, l fmp4.Layout, start, end int) {
	fail := func(err error) {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", fmt.Errorf("playback %s: %w", rc.camera, err))
	}
	init := make([]byte, l.InitSize)
	if _, err := ra.ReadAt(init, 0); err != nil {
		fail(err)
		return
	}
	init, err := fmp4.StripAudioInit(init)
	if err != nil {
		fail(err)
		return
	}
	type piece struct {
		moof          []byte
		mdatAt, mdatN int64
	}
	pieces := make([]piece, 0, end-start)
	total := int64(len(init))
	for _, f := range l.Fragments[start:end] {
		h, err := fmp4.ReadBoxHeader(ra, f.Offset, size)
		if err != nil {
			fail(err)
			return
		}
		moof := make([]byte, h.Size)
		if _, err := ra.ReadAt(moof, f.Offset); err != nil {
			fail(err)
			return
		}
		if moof, err = fmp4.StripAudioMoof(moof); err != nil {
			fail(err)
			return
		}
		p := piece{moof: moof, mdatAt: f.Offset + h.Size, mdatN: f.Size - h.Size}
		pieces = append(pieces, p)
		total += int64(len(moof)) + p.mdatN
	}
	first, last := l.Fragments[start], l.Fragments[end-1]
	ts := float64(l.Init.Timescale)
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Media-Start", strconv.FormatFloat(float64(first.BaseTime)/ts, 'f', 3, 64))
	w.Header().Set("X-Media-End", strconv.FormatFloat(float64(last.BaseTime+last.Duration)/ts, 'f', 3, 64))
	w.Header().Set("Content-Length", strconv.FormatInt(total, 10))
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(init); err != nil {
		return
	}
	for _, p := range pieces {
		if _, err := w.Write(p.moof); err != nil {
			return
		}
		if _, err := io.Copy(w, io.NewSectionReader(ra, p.mdatAt, p.mdatN)); err != nil {
			return
		}
	}
}

// seekReaderAt reads at an offset by seeking (one reader, one goroutine).
type seekReaderAt struct{ rs io.ReadSeeker }

func (s seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if _, err := s.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(s.rs, p)
}
