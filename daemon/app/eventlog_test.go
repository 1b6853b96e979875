package app

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

func TestEventLogKeepsNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		size, published, limit int
		want                   []int // seconds of the events returned
	}{
		{size: 5, published: 0, limit: 10, want: nil},
		{size: 5, published: 3, limit: 10, want: []int{2, 1, 0}},
		{size: 5, published: 3, limit: 2, want: []int{2, 1}},
		{size: 5, published: 5, limit: 10, want: []int{4, 3, 2, 1, 0}},
		{size: 5, published: 12, limit: 10, want: []int{11, 10, 9, 8, 7}},
		{size: 5, published: 12, limit: 1, want: []int{11}},
	} {
		l := NewEventLog(tt.size, slog.New(slog.NewTextHandler(io.Discard, nil)))
		for i := range tt.published {
			l.Publish(events.Event{Type: events.CameraOffline, Start: t0.Add(time.Duration(i) * time.Second)})
		}
		got := l.Recent(tt.limit)
		if len(got) != len(tt.want) {
			t.Fatalf("%+v: got %d events, want %d", tt, len(got), len(tt.want))
		}
		for i, e := range got {
			if s := int(e.Start.Sub(t0) / time.Second); s != tt.want[i] {
				t.Fatalf("%+v: event %d is #%d, want #%d", tt, i, s, tt.want[i])
			}
		}
	}
}
