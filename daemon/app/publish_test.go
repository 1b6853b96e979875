package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/search"
)

// TestRetentionAgesOutEvents: when retention deletes a camera's old
// recordings, the events before them leave the index; other cameras'
// events and newer ones stay.
func TestRetentionAgesOutEvents(t *testing.T) {
	idx, err := search.Open(filepath.Join(t.TempDir(), "events"), search.Options{FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ctx := context.Background()
	p := &publisher{idx: idx, log: NewEventLog(10, slog.New(slog.NewTextHandler(io.Discard, nil))), ctx: ctx, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	now := time.Now().UTC()
	p.Publish(events.Event{Type: events.Motion, Camera: "cam1", Start: now.Add(-3 * time.Hour)})
	p.Publish(events.Event{Type: events.Motion, Camera: "cam1", Start: now.Add(-time.Minute)})
	p.Publish(events.Event{Type: events.Motion, Camera: "cam2", Start: now.Add(-3 * time.Hour)})
	if err := idx.Flush(); err != nil {
		t.Fatal(err)
	}
	p.Publish(events.Event{Type: events.RetentionPurge, Camera: "cam1", Start: now.Add(-4 * time.Hour), End: now.Add(-2 * time.Hour)})
	p.wg.Wait()
	if err := idx.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		camera string
		want   uint64
	}{{"cam1", 2}, {"cam2", 1}} { // cam1: the new motion and the retention event itself
		res, err := idx.Search(ctx, search.Query{Allowed: []string{tt.camera}, From: now.Add(-24 * time.Hour), To: now.Add(time.Hour), Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != tt.want {
			t.Errorf("%s: %d events left, want %d: %+v", tt.camera, res.Total, tt.want, res.Events)
		}
	}
	if n := len(p.log.Recent(10)); n != 4 {
		t.Errorf("event log holds %d, want 4", n)
	}
}
