package live

import (
	"bytes"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/media"
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
		source     bool
	}{
		{"no viewer", false, 0, 0, false},
		{"one viewer", true, 2, 0, false},
		{"GOP from a source, no viewer", false, 0, 0, true},
		{"GOP from a source, one viewer", true, 2, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLoopedFeed(t)
			if tt.source {
				l.f.SetSource(noGOP{})
			}
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

// noGOP is a GOP source that has none (the viewer starts at the next key
// frame).
type noGOP struct{}

func (noGOP) ReadGOP(time.Duration, func(dts, cto time.Duration, key bool, data []byte)) (int, error) {
	return 0, nil
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

// TestViewersFragmentsStayIntact: the fragments a viewer received (from the
// cache when it joined, then live) are slices of the GOP arena; whatever the
// feed writes afterwards, watched or not, must not change them.
func TestViewersFragmentsStayIntact(t *testing.T) {
	l := newLoopedFeed(t)
	for range 60 { // nobody watches: the arena is reused in place
		l.write(t)
	}
	type held struct{ frag, copy []byte }
	var got []held
	keep := func(s *Subscription) {
		for {
			select {
			case m := <-s.C:
				if m.Frag != nil {
					got = append(got, held{m.Frag, bytes.Clone(m.Frag)})
				}
			default:
				return
			}
		}
	}
	sub := l.f.subscribe() // joins mid-GOP: gets the cached fragments
	keep(sub)
	for range 70 { // across a key frame, watched
		l.write(t)
		keep(sub)
	}
	sub.Close()
	for range 200 { // nobody watches again, four key frames
		l.write(t)
	}
	if len(got) < 70 {
		t.Fatalf("viewer got %d fragments, want >= 70", len(got))
	}
	for i, h := range got {
		if !bytes.Equal(h.frag, h.copy) {
			t.Fatalf("fragment %d of %d changed after it was sent", i, len(got))
		}
		if cap(h.frag) != len(h.frag) {
			t.Fatalf("fragment %d: capacity %d beyond its length %d (a viewer's append would write into the arena)", i, cap(h.frag), len(h.frag))
		}
	}
}

// TestGOPArenaFollowsTheStream: the arena is sized from the last GOP plus a
// quarter, reused while nobody watches, and given back after a spike.
func TestGOPArenaFollowsTheStream(t *testing.T) {
	var g gopCache
	hdr := make([]byte, 112)
	gop := func(frames, size int) {
		g.restart()
		p := make([]byte, size)
		for i := range frames {
			g.add(hdr, p, i == 0, 0)
		}
	}
	for _, tt := range []struct {
		name           string
		frames, size   int
		repeat         int
		minCap, maxCap int
	}{
		{"normal 720p GOP", 50, 20000, 3, 50 * 20112, 50 * 20112 * 5 / 4},
		{"spike 10x", 50, 200000, 1, 50 * 200112, 50 * 200112 * 3 / 2},
		{"back to normal: given back", 50, 20000, 2, 50 * 20112, 50 * 20112 * 5 / 4},
		{"tiny stream: kept at the minimum", 50, 100, 3, minGOPArena, minGOPArena},
	} {
		for range tt.repeat {
			gop(tt.frames, tt.size)
		}
		if c := cap(g.buf); c < tt.minCap || c > tt.maxCap {
			t.Errorf("%s: arena %d bytes, want %d..%d", tt.name, c, tt.minCap, tt.maxCap)
		}
	}
}
