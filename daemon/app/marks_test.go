package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/storage"
)

// TestAlarmEventsMarkTheirVideo: a motion event marks the segments from
// its pre-buffer to its post-buffer (a segment that starts within the
// post-buffer after the event, too); events that are not alarms (a box
// switching its own infrared, a camera going offline) mark nothing.
func TestAlarmEventsMarkTheirVideo(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	store, err := storage.Open(context.Background(), t.TempDir(), storage.Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	init, err := fmp4.InitSegment(media.Stream{Codec: media.H264,
		SPS: []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60},
		PPS: []byte{0x68, 0xce, 0x3c, 0x80}, Width: 64, Height: 64})
	if err != nil {
		t.Fatal(err)
	}
	seg := func(at time.Duration) {
		w, err := store.Create("cam", t0.Add(at), init)
		if err != nil {
			t.Fatal(err)
		}
		var fb fmp4.FragmentBuilder
		fb.AddNALUs(media.H264, [][]byte{{0x65, 0x88, 1, 2}}, fmp4.Sample{Duration: 90000, Key: true})
		if err := w.Append(fb.Encode(1, 0), w.Start().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(w.Start().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Segments of 10 s at 0, 20, 40, 60 s; the last one after the event.
	seg(0)
	seg(20 * time.Second)
	seg(40 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	m := startMarker(ctx, store, func(string) (time.Duration, time.Duration) { return 5 * time.Second, 10 * time.Second },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, e := range []events.Event{
		{Type: events.SceneChange, Camera: "cam", Start: t0.Add(time.Second), Cause: events.CauseBox}, // the box's own infrared
		{Type: events.CameraOffline, Camera: "cam", Start: t0.Add(2 * time.Second)},
		{Type: events.Motion, Camera: "cam", Start: t0.Add(44 * time.Second)},                                // open: [39 s, 54 s]
		{Type: events.Motion, Camera: "cam", Start: t0.Add(44 * time.Second), End: t0.Add(52 * time.Second)}, // ended: [39 s, 62 s]
	} {
		m.offer(e)
	}
	cancel()
	m.wg.Wait() // the queue is drained when the marker stops
	seg(60 * time.Second)
	want := []bool{false, false, true, true}
	segs := store.Segments("cam", time.Time{}, time.Time{})
	if len(segs) != len(want) {
		t.Fatalf("%d segments, want %d", len(segs), len(want))
	}
	for i, s := range segs {
		if s.Event != want[i] {
			t.Errorf("segment at %v: event %v, want %v", s.Start.Sub(t0), s.Event, want[i])
		}
	}
}

// TestRetentionFromRecords: a camera's retention is its record's; the
// event days only in the mixed mode; none for a camera without a record.
func TestRetentionFromRecords(t *testing.T) {
	recs, err := cameras.Open(t.TempDir() + "/cameras.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []cameras.Record{
		{ID: "mixed", Name: "m", URL: "rtsp://10.0.0.2/", Mode: cameras.Mixed, RetentionDays: 7, EventRetentionDays: 30},
		{ID: "cont", Name: "c", URL: "rtsp://10.0.0.3/", Mode: cameras.Continuous, RetentionDays: 3},
	} {
		if err := recs.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	f := retentionOf(recs)
	for cam, want := range map[string]storage.Retention{"mixed": {Days: 7, EventDays: 30}, "cont": {Days: 3}, "gone": {}} {
		if got := f(cam); got != want {
			t.Errorf("%s: %+v, want %+v", cam, got, want)
		}
	}
	if got := retentionOf(nil)("mixed"); got != (storage.Retention{}) {
		t.Errorf("without records: %+v", got)
	}
}
