package live

import (
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/record/recordtest"
)

// loopedFeed feeds a clip to a Feed in a loop, with DTS growing across
// passes as a camera's would.
type loopedFeed struct {
	f    *Feed
	clip *recordtest.Clip
	n    int
}

func newLoopedFeed(tb testing.TB) *loopedFeed {
	clip := recordtest.LoadClip(tb, "moving-720p.h264")
	f := NewHub().Feed("cam1")
	if err := f.StreamStarted(media.Stream{Camera: "cam1", Codec: media.H264, SPS: clip.Stream.SPS, PPS: clip.Stream.PPS, Epoch: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	return &loopedFeed{f: f, clip: clip}
}

func (l *loopedFeed) write(tb testing.TB) {
	i := l.n % len(l.clip.AUs)
	au := l.clip.AUs[i]
	shift := time.Duration(l.n/len(l.clip.AUs)) * l.clip.Duration()
	au.DTS += shift
	au.PTS += shift
	l.n++
	if err := l.f.WriteAccessUnit(&au); err != nil {
		tb.Fatal(err)
	}
}

// drain empties a viewer's queue as the WebSocket writer would.
func drain(s *Subscription) int {
	n := 0
	for {
		select {
		case <-s.C:
			n++
		default:
			return n
		}
	}
}

// TestWriteAccessUnitAllocs: once warm, a picture costs no allocation
// without a viewer (the GOP arena is reused in place), and with a viewer at
// most a couple per GOP (a fresh arena, as the viewer may still hold the
// previous GOP's fragments).
func TestWriteAccessUnitAllocs(t *testing.T) {
	for _, tt := range []struct {
		name       string
		viewer     bool
		maxPerGOP  float64
		maxPerPict float64
	}{
		{"no viewer", false, 0, 0},
		{"one viewer", true, 2, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLoopedFeed(t)
			var sub *Subscription
			if tt.viewer {
				var err error
				if sub, err = subscribeFeed(l.f); err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
			}
			step := func() {
				l.write(t)
				if sub != nil {
					drain(sub)
				}
			}
			for range 2 * len(l.clip.AUs) { // warm: two passes of the clip
				step()
			}
			// From one key frame to the next (the clip's GOP is 50).
			for !l.clip.AUs[l.n%len(l.clip.AUs)].Key {
				step()
			}
			gop := func() {
				step()
				for !l.clip.AUs[l.n%len(l.clip.AUs)].Key {
					step()
				}
			}
			if a := testing.AllocsPerRun(4, gop); a > tt.maxPerGOP {
				t.Errorf("%v allocations per GOP, want <= %v", a, tt.maxPerGOP)
			}
			if a := testing.AllocsPerRun(200, step); a > tt.maxPerPict {
				t.Errorf("%v allocations per picture, want <= %v", a, tt.maxPerPict)
			}
		})
	}
}

func subscribeFeed(f *Feed) (*Subscription, error) { return f.subscribe(), nil }

// BenchmarkFeedWriteAccessUnit: one 720p picture (the clip's, 4 Mbit/s,
// GOP 50) through the live feed, without and with a viewer.
func BenchmarkFeedWriteAccessUnit(b *testing.B) {
	for _, viewer := range []bool{false, true} {
		name := "no-viewer"
		if viewer {
			name = "viewer"
		}
		b.Run(name, func(b *testing.B) {
			l := newLoopedFeed(b)
			var sub *Subscription
			if viewer {
				sub = l.f.subscribe()
				defer sub.Close()
			}
			for range len(l.clip.AUs) {
				l.write(b)
			}
			if sub != nil {
				drain(sub)
			}
			b.ReportAllocs()
			for b.Loop() {
				l.write(b)
				if sub != nil {
					drain(sub)
				}
			}
		})
	}
}
