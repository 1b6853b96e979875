package record_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/internal/faultfs"
	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/hwtest/testenv"
)

// TestFullDisk records three cameras onto a simulated 8 MB disk (writes past
// it fail with ENOSPC) with a 2 MB free-space floor, feeding three times
// what fits: recording must go on without a gap, the floor must hold, and
// the oldest segments of all cameras must go first.
func TestFullDisk(t *testing.T) {
	for _, tt := range []struct {
		name   string
		floor  int64
		enospc bool // the floor is too low to stop writes from hitting ENOSPC
	}{
		{"floor", 2 << 20, false},
		{"enospc", 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ffs := faultfs.New(nil)
			ffs.Quota = 8 << 20
			testFullDisk(t, ffs, t.TempDir(), tt.floor, tt.enospc)
		})
	}
}

const fullDiskEnv = "MATTHAN_RECORD_FULLDISK_DIR"

// TestFullDiskTmpfs does the same on a real 8 MB tmpfs mounted in a private
// mount namespace (needs root and unshare(1)): real ENOSPC, real statfs.
func TestFullDiskTmpfs(t *testing.T) {
	if dir := os.Getenv(fullDiskEnv); dir != "" {
		// The child, inside the namespace, with the tmpfs mounted on dir.
		testFullDisk(t, faultfs.New(nil), dir, 1, true)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs in a private mount namespace (TestFullDisk covers ENOSPC without)")
	}
	unshare := testenv.LookTool(t, "unshare", "util-linux")
	if out, err := exec.Command(unshare, "--mount", "true").CombinedOutput(); err != nil {
		// Root without CAP_SYS_ADMIN (an unprivileged container).
		t.Skipf("cannot make a mount namespace here (%v: %s); TestFullDisk covers ENOSPC without", err, out)
	}
	recordtest.LoadClip(t, "moving-360p.h264")
	dir := t.TempDir()
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o size=8m matthan-test "$0" && exec "$@"`, dir,
		os.Args[0], "-test.run=^TestFullDiskTmpfs$", "-test.v")
	cmd.Env = append(os.Environ(), fullDiskEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", lastLines(string(out), 15))
	if err != nil {
		t.Fatalf("full tmpfs: %v", err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func testFullDisk(t *testing.T, ffs *faultfs.FS, dir string, floor int64, enospc bool) {
	clips := []*recordtest.Clip{
		recordtest.LoadClip(t, "moving-360p.h264"),
		recordtest.LoadClip(t, "static-360p.h264"),
		recordtest.LoadClip(t, "moving-360p.h264"),
	}
	cams := []string{"cam1", "cam2", "cam3"}
	const loops = 12 // 120 s of each camera, about 24 MB in all
	_, quota, err := ffs.Statfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	used := func() int64 {
		avail, _, _ := ffs.Statfs(dir)
		return quota - avail
	}
	var mu sync.Mutex
	purged := map[string]int{}
	var lowEvents int
	pub := events.PublisherFunc(func(e events.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case events.RetentionPurge:
			purged[e.Camera]++
		case events.DiskLow:
			lowEvents++
		}
	})
	st, err := storage.Open(context.Background(), dir, storage.Options{
		FS: ffs, MinFreeBytes: floor, RetentionInterval: 20 * time.Millisecond, Events: pub, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	recs := make([]*record.Recorder, len(cams))
	for i, cam := range cams {
		recs[i] = record.New(st, cam, record.Options{SegmentDuration: 4 * time.Second, Logf: t.Logf})
		s := clips[i].Stream
		s.Camera, s.Epoch = cam, epoch
		if err := recs[i].StreamStarted(s); err != nil {
			t.Fatal(err)
		}
	}
	frame := 40 * time.Millisecond
	n := loops * len(clips[0].AUs)
	minAvail := int64(quota)
	for k := range n {
		for i, rec := range recs {
			au := clips[i].AUs[k%len(clips[i].AUs)]
			au.DTS, au.PTS = time.Duration(k)*frame, time.Duration(k)*frame
			if err := rec.WriteAccessUnit(&au); err != nil {
				t.Fatal(err)
			}
		}
		if k%25 == 0 {
			minAvail = min(minAvail, quota-used())
		}
	}
	for _, rec := range recs {
		rec.StreamEnded(nil)
	}
	st.RunRetention()

	fed := time.Duration(n) * frame
	oldest := map[string]time.Time{}
	for i, cam := range cams {
		stats := recs[i].Stats()
		if stats.Frames != int64(n) || stats.WriteErrors != 0 {
			t.Errorf("%s: %d of %d frames recorded, %d write errors", cam, stats.Frames, n, stats.WriteErrors)
		}
		segs := st.Segments(cam, time.Time{}, time.Time{})
		if len(segs) == 0 {
			t.Fatalf("%s: nothing left", cam)
		}
		for j := 1; j < len(segs); j++ {
			if !segs[j].Start.Equal(segs[j-1].End) {
				t.Errorf("%s: gap between %s (ends %v) and %s (starts %v)", cam, segs[j-1].File, segs[j-1].End, segs[j].File, segs[j].Start)
			}
		}
		if end := segs[len(segs)-1].End; !end.Equal(epoch.Add(fed)) {
			t.Errorf("%s: recording ends at %v, want %v (all that was fed)", cam, end, epoch.Add(fed))
		}
		if segs[0].Start.Equal(epoch) {
			t.Errorf("%s: the oldest segment was never deleted", cam)
		}
		oldest[cam] = segs[0].Start
		for _, seg := range segs[len(segs)-2:] {
			if pr := recordtest.FFprobe(t, st.Path(seg)); pr.Errors != "" || pr.Frames == 0 {
				t.Errorf("%s: %+v", seg.File, pr)
			}
		}
	}
	// Oldest first across cameras: what is left starts at about the same time
	// for every camera (within one segment).
	var lo, hi time.Time
	for _, o := range oldest {
		if lo.IsZero() || o.Before(lo) {
			lo = o
		}
		if o.After(hi) {
			hi = o
		}
	}
	if hi.Sub(lo) > 4*time.Second+frame {
		t.Errorf("oldest remaining segments differ by %v across cameras: %v", hi.Sub(lo), oldest)
	}
	avail, _, _ := ffs.Statfs(dir)
	t.Logf("used %d of %d bytes, lowest free during the run %d, free now %d, floor %d; purge events %v; stats %+v",
		used(), quota, minAvail, avail, floor, purged, st.Stats())
	if avail < floor {
		t.Errorf("free space %d below the floor %d after retention", avail, floor)
	}
	if got := ffs.ENOSPC(); enospc != (got > 0) {
		t.Errorf("%d writes hit ENOSPC, want some: %v", got, enospc)
	}
	if minAvail < floor-(256<<10) {
		t.Errorf("free space fell to %d during recording, floor %d", minAvail, floor)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, cam := range cams {
		if purged[cam] == 0 {
			t.Errorf("no retention_delete event for %s", cam)
		}
	}
}

var _ media.Sink = (*record.Recorder)(nil)
