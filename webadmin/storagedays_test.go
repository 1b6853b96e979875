package webadmin

import (
	"math"
	"testing"
	"time"
)

// The system page's days agree with what is kept: make run's old 1 GiB
// data partition with its 512 MiB floor held about half what the disk
// size divided by the rate said, and the days "held" were the disk's use
// (index, logs and all) divided by the rate.
func TestStorageDays(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	const gib = 1 << 30
	for _, tt := range []struct {
		name         string
		st           SystemStats
		ok           bool
		capacity, in float64
		events       float64 // event video only (motion mode)
	}{
		{"not measured", SystemStats{DiskTotal: gib}, false, 0, 0, 0},
		{"floor taken off", SystemStats{DiskTotal: gib, DiskUsed: gib * 42 / 100, DiskFloor: gib / 2, BytesPerDay: gib, Oldest: now.Add(-3 * time.Minute)}, true, 0.5, 3.0 / 1440, 0},
		{"nothing recorded yet", SystemStats{DiskTotal: 16 * gib, DiskFloor: gib, BytesPerDay: 5 * gib}, true, 3, 0, 0},
		{"floor over the disk", SystemStats{DiskTotal: gib, DiskFloor: 2 * gib, BytesPerDay: gib}, true, 0, 0, 0},
		{"a tenth is event video", SystemStats{DiskTotal: 16 * gib, DiskFloor: gib, BytesPerDay: 5 * gib, EventShare: 0.1}, true, 3, 0, 30},
		{"all is event video", SystemStats{DiskTotal: 16 * gib, DiskFloor: gib, BytesPerDay: 5 * gib, EventShare: 1}, true, 3, 0, 3},
	} {
		d, ok := storageDays(tt.st, now)
		if ok != tt.ok || math.Abs(d.capacity-tt.capacity) > 1e-9 || math.Abs(d.held-tt.in) > 1e-9 || math.Abs(d.events-tt.events) > 1e-9 {
			t.Errorf("%s: %+v %v, want capacity %v held %v events %v %v", tt.name, d, ok, tt.capacity, tt.in, tt.events, tt.ok)
		}
	}
}
