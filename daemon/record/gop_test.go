package record_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/record"
)

// TestLiveViewerStartsFromTheSegment: a live feed whose GOP comes from the
// recorder (read back from the segment being written and the fragment not
// yet written) gives a new viewer exactly the fragments a feed keeping the
// GOP in the heap gives, at every point of the GOP, across fragment and
// segment boundaries.
func TestLiveViewerStartsFromTheSegment(t *testing.T) {
	clip := recordtest.LoadClip(t, "moving-720p.h264")
	store := openStore(t, t.TempDir())
	rec := record.New(store, "cam", record.Options{SegmentDuration: 4 * time.Second, FragmentDuration: 300 * time.Millisecond})
	hub := live.NewHub()
	heap, disk := hub.Feed("heap"), hub.Feed("disk")
	disk.SetSource(rec)
	st := clip.Stream
	st.Camera, st.Epoch = "cam", epoch
	sinks := []media.Sink{rec, heap, disk}
	for _, s := range sinks {
		if err := s.StreamStarted(st); err != nil {
			t.Fatal(err)
		}
	}
	frame := time.Second / time.Duration(clip.FPS)
	checked := 0
	for n := range 3 * len(clip.AUs) {
		au := clip.AUs[n%len(clip.AUs)]
		au.DTS = time.Duration(n) * frame
		au.PTS = au.DTS
		for _, s := range sinks {
			if err := s.WriteAccessUnit(&au); err != nil {
				t.Fatal(err)
			}
		}
		if n%7 != 3 {
			continue
		}
		want, got := firstMessages(t, hub, "heap"), firstMessages(t, hub, "disk")
		if len(got) != len(want) || len(want) < 2 {
			t.Fatalf("picture %d: viewer got %d messages from the segment, %d from the heap", n, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i].Frag, want[i].Frag) || !bytes.Equal(got[i].Init, want[i].Init) || got[i].Key != want[i].Key || got[i].DTS != want[i].DTS {
				t.Fatalf("picture %d: message %d differs (key %v/%v, dts %v/%v, %d/%d bytes)", n, i, got[i].Key, want[i].Key, got[i].DTS, want[i].DTS, len(got[i].Frag), len(want[i].Frag))
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("nothing compared")
	}
	// Recording stopped: no GOP to read back; the viewer gets the stream's
	// start at once and its pictures from the next key frame.
	rec.StreamEnded(nil)
	if got := firstMessages(t, hub, "disk"); len(got) != 1 || got[0].Start == nil {
		t.Fatalf("after the recording ended: %d messages, want the start only", len(got))
	}
}

func firstMessages(t *testing.T, hub *live.Hub, cam string) []live.Message {
	t.Helper()
	s, err := hub.Subscribe(cam)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []live.Message
	for {
		select {
		case m := <-s.C:
			out = append(out, m)
		default:
			return out
		}
	}
}
