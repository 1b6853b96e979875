package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/fmp4"
)

// ErrNoRecordings is returned by Export when nothing covers the range.
var ErrNoRecordings = errors.New("storage: no recordings in the range")

// ExportInfo says what Export wrote.
type ExportInfo struct {
	// Start is the time of the first sample written: the key frame at or
	// before the requested start (or the first key frame after it).
	Start, End time.Time
	Samples    int
	Segments   int
	// StoppedEarly is set when the export ended before `to` because the
	// stream's codec or picture size changed (a second init segment would be
	// needed); export the rest as a second file from StoppedAt.
	StoppedEarly bool
	StoppedAt    time.Time
	// Covered is what the file holds, from the fragments written: each
	// interval runs from a fragment's first sample to the end of the last
	// sample before a hole of evidence.GapThreshold or more.
	Covered []evidence.Interval
	// ClockUnsynced is what of [Start, End) was recorded while the box's
	// clock was not synchronised or was stepped (segments with TimeFlags):
	// its times there may be off.
	ClockUnsynced []evidence.Interval
}

// Export writes camera's recording from the key frame at or before from
// until to as one fragmented MP4 (one init segment, then fragments) without
// transcoding. Sample times keep their place on the box's clock, so a gap
// in the recording stays a gap in the file. Parameter sets travel in band
// at every key frame, so an SPS/PPS change with the same codec and picture
// size plays on; a change of codec or size ends the export there
// (ExportInfo.StoppedEarly).
func Export(ctx context.Context, w io.Writer, s *Store, camera string, from, to time.Time) (ExportInfo, error) {
	var info ExportInfo
	if !to.After(from) {
		return info, fmt.Errorf("storage: export: empty range %s..%s", from, to)
	}
	segs := s.Segments(camera, from, to)
	if len(segs) == 0 {
		return info, ErrNoRecordings
	}
	var (
		first    *fmp4.InitInfo
		b        fmp4.FragmentBuilder
		ab       fmp4.FragmentBuilder // the audio track's samples, if the recording has sound
		aNext    uint64               // audio tick just past the last audio sample written
		seq      uint32
		outBase  int64 // export time zero, Unix ns
		nextTick uint64
		started  bool
		mdat     []byte
	)
	for _, seg := range segs {
		if err := ctx.Err(); err != nil {
			return info, err
		}
		f, err := s.open(seg)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted by retention meanwhile
			}
			return info, fmt.Errorf("storage: export %s: %w", seg.File, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return info, fmt.Errorf("storage: export %s: %w", seg.File, err)
		}
		l, err := fmp4.ScanSegment(f, fi.Size())
		if err != nil || l.Init.Timescale == 0 {
			f.Close()
			s.opts.Logf("storage: export: skipping %s: %v", seg.File, err)
			continue
		}
		if first == nil {
			init := make([]byte, l.InitSize)
			if _, err := f.ReadAt(init, 0); err != nil {
				f.Close()
				return info, fmt.Errorf("storage: export %s: %w", seg.File, err)
			}
			start, ok := keyAtOrBefore(l, seg.Start, from)
			if !ok {
				f.Close()
				continue
			}
			if _, err := w.Write(init); err != nil {
				f.Close()
				return info, fmt.Errorf("storage: export: %w", err)
			}
			first = &l.Init
			outBase = start.UnixNano()
			info.Start = start
		} else if l.Init.SampleEntry != first.SampleEntry || l.Init.Width != first.Width ||
			l.Init.Height != first.Height || l.Init.Timescale != first.Timescale || !sameAudio(l.Init.Audio, first.Audio) {
			f.Close()
			info.StoppedEarly, info.StoppedAt = true, seg.Start
			break
		}
		info.Segments++
		ts := uint64(l.Init.Timescale)
		segOff := seg.Start.UnixNano() - outBase // may be negative for the first segment
		for _, fr := range l.Fragments {
			if fr.Duration == 0 || len(fr.Samples) == 0 {
				continue
			}
			b.Reset()
			var baseTick uint64
			t := fr.BaseTime
			mdatStart, mdatEnd := fr.Samples[0].Offset, fr.Samples[0].Offset
			for _, sm := range append(fr.Samples, fr.Audio...) {
				mdatEnd = max(mdatEnd, sm.Offset+int64(sm.Size))
				mdatStart = min(mdatStart, sm.Offset)
			}
			loaded := false
			for _, sm := range fr.Samples {
				at := segOff + int64(t*uint64(time.Second)/ts) // ns from export start
				t += uint64(sm.Duration)
				if at < 0 {
					continue // before the starting key frame
				}
				if !started && !sm.Key {
					continue
				}
				if outBase+at >= unixNano(to) {
					break
				}
				if !loaded {
					mdat = grow(mdat, int(mdatEnd-mdatStart))
					if _, err := f.ReadAt(mdat, mdatStart); err != nil {
						f.Close()
						return info, fmt.Errorf("storage: export %s: %w", seg.File, err)
					}
					loaded = true
				}
				if b.Len() == 0 {
					baseTick = max(uint64(at)*uint64(fmp4.Timescale)/uint64(time.Second), nextTick)
				}
				started = true
				data := mdat[sm.Offset-mdatStart : sm.Offset-mdatStart+int64(sm.Size)]
				dur := uint32(uint64(sm.Duration) * fmp4.Timescale / ts)
				b.AddSample(data, fmp4.Sample{Duration: max(dur, 1), PTSOffset: int32(int64(sm.PTSOffset) * fmp4.Timescale / int64(ts)), Key: sm.Key})
				info.Samples++
			}
			if b.Len() == 0 {
				continue
			}
			aBase := exportAudio(&ab, fr, first.Audio, segOff, unixNano(to)-outBase, &aNext, mdat, mdatStart)
			seq++
			if _, err := WriteParts(w, [][]byte{b.HeaderAV(seq, baseTick, &ab, aBase), b.Payload(), ab.Payload()}); err != nil {
				f.Close()
				return info, fmt.Errorf("storage: export: %w", err)
			}
			nextTick = baseTick + b.Duration()
			info.Covered = cover(info.Covered, tickTime(outBase, baseTick), tickTime(outBase, nextTick))
		}
		f.Close()
	}
	if !started {
		return info, ErrNoRecordings
	}
	info.End = tickTime(outBase, nextTick)
	for _, seg := range segs {
		if !seg.ClockUnsynced && !seg.ClockStepped {
			continue
		}
		iv := evidence.Interval{From: seg.Start, To: seg.End}.Intersect(evidence.Interval{From: info.Start, To: info.End})
		if seg.Recording {
			iv.To = info.End
		}
		if !iv.From.Before(iv.To) {
			continue
		}
		if n := len(info.ClockUnsynced); n > 0 && !iv.From.After(info.ClockUnsynced[n-1].To) {
			if last := &info.ClockUnsynced[n-1]; iv.To.After(last.To) {
				last.To = iv.To
			}
			continue
		}
		info.ClockUnsynced = append(info.ClockUnsynced, iv)
	}
	return info, nil
}

// sameAudio reports whether two segments' audio tracks can share one init
// segment (both none, or the same sample entry, rate and channels).
func sameAudio(a, b *fmp4.AudioInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.SampleEntry == b.SampleEntry && a.Timescale == b.Timescale && a.Channels == b.Channels
}

// exportAudio fills ab with the fragment's audio samples that fall in the
// export (from its start, before end ns), timed from the export's start,
// and returns the first one's tick; aNext keeps the track from going back.
// mdat holds the fragment's samples from file offset mdatStart.
func exportAudio(ab *fmp4.FragmentBuilder, fr fmp4.FragmentInfo, a *fmp4.AudioInfo, segOff, end int64, aNext *uint64, mdat []byte, mdatStart int64) uint64 {
	ab.Reset()
	if a == nil || a.Timescale == 0 || len(fr.Audio) == 0 {
		return 0
	}
	rate := uint64(a.Timescale)
	t := fr.AudioBaseTime
	var base uint64
	for _, sm := range fr.Audio {
		at := segOff + int64(t*uint64(time.Second)/rate) // ns from export start
		t += uint64(sm.Duration)
		if at < 0 || at >= end {
			continue
		}
		if sm.Offset < mdatStart || sm.Offset-mdatStart+int64(sm.Size) > int64(len(mdat)) {
			continue
		}
		if ab.Len() == 0 {
			base = max(uint64(at)/1000*rate/1000000, *aNext)
		}
		ab.AddSample(mdat[sm.Offset-mdatStart:sm.Offset-mdatStart+int64(sm.Size)], fmp4.Sample{Duration: max(sm.Duration, 1), Key: true})
	}
	if ab.Len() > 0 {
		*aNext = base + ab.Duration()
	}
	return base
}

// tickTime is the box time of an export tick.
func tickTime(outBase int64, tick uint64) time.Time {
	return time.Unix(0, outBase+int64(tick*uint64(time.Second)/fmp4.Timescale)).UTC()
}

// cover adds [from, to) to the covered intervals, joining it to the last
// one across a hole shorter than evidence.GapThreshold.
func cover(c []evidence.Interval, from, to time.Time) []evidence.Interval {
	if n := len(c); n > 0 && from.Sub(c[n-1].To) < evidence.GapThreshold {
		if to.After(c[n-1].To) {
			c[n-1].To = to
		}
		return c
	}
	return append(c, evidence.Interval{From: from, To: to})
}

// keyAtOrBefore finds the time of the last key frame at or before from in a
// segment, or its first key frame when from is before all of them.
func keyAtOrBefore(l fmp4.Layout, segStart, from time.Time) (time.Time, bool) {
	var best, firstKey time.Time
	var haveBest, haveFirst bool
	ts := uint64(l.Init.Timescale)
	for _, fr := range l.Fragments {
		t := fr.BaseTime
		for _, sm := range fr.Samples {
			at := segStart.Add(time.Duration(t * uint64(time.Second) / ts))
			t += uint64(sm.Duration)
			if !sm.Key {
				continue
			}
			if !haveFirst {
				firstKey, haveFirst = at, true
			}
			if !at.After(from) {
				best, haveBest = at, true
			}
		}
	}
	if haveBest {
		return best, true
	}
	return firstKey, haveFirst
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
