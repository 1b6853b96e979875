package record_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/faultfs"
	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

// TestRecordingDiskLost: a camera records onto a recording disk that dies
// mid-segment and later comes back. The recorder cuts the segment, goes on
// on the card at the next key frame and returns to the disk once it is
// attached again; every segment (the cut one too) plays, and what is lost
// is at most the failed fragment and the frames up to the next key frame.
func TestRecordingDiskLost(t *testing.T) {
	clip := recordtest.LoadClip(t, "moving-720p.h264") // 25 fps, key frame every 2 s
	cardDir, diskDir := t.TempDir(), t.TempDir()
	card := openStore(t, cardDir)
	dfs := faultfs.New(nil)
	openDisk := func(fs storage.FS) *storage.Store {
		d, err := storage.Open(context.Background(), diskDir, storage.Options{FS: fs, MinFreeBytes: 1, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := card.AttachDisk(d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	openDisk(dfs)

	rec := record.New(card, "cam", record.Options{SegmentDuration: 30 * time.Second, Logf: t.Logf})
	st := clip.Stream
	st.Camera, st.Epoch = "cam", epoch
	if err := rec.StreamStarted(st); err != nil {
		t.Fatal(err)
	}
	frame := time.Second / time.Duration(clip.FPS)
	n := 0
	sendSeconds := func(sec int) {
		for range sec * clip.FPS {
			au := clip.AUs[n%len(clip.AUs)]
			au.DTS = time.Duration(n) * frame
			au.PTS = au.DTS
			if err := rec.WriteAccessUnit(&au); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	sendSeconds(5)
	dfs.SetFail(syscall.EIO) // unplugged mid-segment
	sendSeconds(5)
	if card.Disk() != nil {
		t.Fatal("the dead disk is still attached")
	}
	dfs.SetFail(nil)
	openDisk(nil)  // plugged in again
	sendSeconds(5) // back on the disk at the next key frame
	rec.StreamEnded(nil)

	segs := card.Segments("cam", time.Time{}, time.Time{})
	var where []string
	frames := 0
	for _, seg := range segs {
		p := card.Path(seg)
		switch {
		case strings.HasPrefix(p, diskDir):
			where = append(where, "disk")
		case strings.HasPrefix(p, cardDir):
			where = append(where, "card")
		}
		pr := recordtest.FFprobe(t, p)
		if msg := recordtest.FFmpegErrors(t, p); msg != "" {
			t.Errorf("%s: ffmpeg: %s", seg.File, msg)
		}
		frames += pr.Frames
	}
	if got := strings.Join(where, ","); got != "disk,card,disk" {
		t.Errorf("segments on %s, want disk,card,disk", got)
	}
	// Lost: the fragment that failed (≤ 1 s) and the frames until the next
	// key frame (≤ 2 s).
	if fed := n; frames < fed-3*clip.FPS-1 || frames > fed {
		t.Errorf("%d of %d frames recorded", frames, fed)
	}
	if c := card.Segments("cam", time.Time{}, time.Time{}); len(c) == 3 && c[2].Start.Sub(epoch) > 13*time.Second {
		t.Errorf("back on the disk only at %v, want at the first key frame after it came back (10 s)", c[2].Start.Sub(epoch))
	}
	if rec.Stats().WriteErrors == 0 {
		t.Error("no write error counted")
	}
}
