package record_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

// stripParams removes in-band parameter sets (a camera that sends them only
// in the SDP).
func stripParams(au media.AccessUnit) media.AccessUnit {
	var out [][]byte
	for _, n := range au.NALUs {
		if t := n[0] & 0x1f; t == 7 || t == 8 {
			continue
		}
		out = append(out, n)
	}
	au.NALUs = out
	return au
}

// TestRecordEdges feeds streams that misbehave; every segment must play
// with as many frames as were kept, and durations stay sane.
func TestRecordEdges(t *testing.T) {
	c360 := recordtest.LoadClip(t, "static-360p.h264")
	c720 := recordtest.LoadClip(t, "moving-720p.h264")
	frame := 40 * time.Millisecond
	type step struct {
		clip    *recordtest.Clip
		frames  int
		dts     time.Duration // DTS of the first frame of the step
		restart bool          // StreamStarted before the step
		strip   bool          // parameter sets only out of band
		garbage bool          // empty access units and NAL units between frames
	}
	for _, tt := range []struct {
		name       string
		steps      []step
		wantSegs   []int // frames per segment
		wantDurMax time.Duration
	}{
		{"time jump starts a new segment",
			[]step{{clip: c360, frames: 100}, {clip: c360, frames: 100, dts: 60 * time.Second}},
			[]int{100, 100}, 4 * time.Second},
		{"duplicate timestamps keep durations positive",
			[]step{{clip: c360, frames: 50}, {clip: c360, frames: 50, dts: 50*frame - 10*frame}},
			[]int{100}, 4 * time.Second},
		{"reconnect with other parameters",
			[]step{{clip: c720, frames: 60}, {clip: c360, frames: 60, dts: 60 * frame, restart: true}},
			[]int{60, 60}, 3 * time.Second},
		{"parameter sets change in band",
			[]step{{clip: c360, frames: 75}, {clip: c720, frames: 50, dts: 75 * frame}},
			[]int{75, 50}, 3 * time.Second},
		{"parameter sets only in the SDP",
			[]step{{clip: c360, frames: 120, strip: true}},
			[]int{120}, 5 * time.Second},
		{"garbage between frames",
			[]step{{clip: c360, frames: 60, garbage: true}},
			[]int{60}, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, dir)
			rec := record.New(st, "cam", record.Options{SegmentDuration: time.Minute, Logf: t.Logf})
			for i, s := range tt.steps {
				if i == 0 || s.restart {
					ms := s.clip.Stream
					ms.Epoch = epoch
					if err := rec.StreamStarted(ms); err != nil {
						t.Fatal(err)
					}
				}
				for k := range s.frames {
					au := s.clip.AUs[k]
					if s.strip {
						au = stripParams(au)
					}
					au.DTS = s.dts + time.Duration(k)*frame
					au.PTS = au.DTS
					if err := rec.WriteAccessUnit(&au); err != nil {
						t.Fatal(err)
					}
					if s.garbage {
						bad := []*media.AccessUnit{{DTS: au.DTS}, {DTS: au.DTS, NALUs: [][]byte{{}, {0x01}}}}
						for _, b := range bad {
							rec.WriteAccessUnit(b)
						}
					}
				}
			}
			rec.StreamEnded(nil)
			segs := st.Segments("cam", time.Time{}, time.Time{})
			if len(segs) != len(tt.wantSegs) {
				t.Fatalf("%d segments, want %d: %+v", len(segs), len(tt.wantSegs), segs)
			}
			for i, seg := range segs {
				pr := recordtest.FFprobe(t, st.Path(seg))
				if pr.Errors != "" || pr.Frames != tt.wantSegs[i] {
					t.Errorf("%s: %+v, want %d frames", seg.File, pr, tt.wantSegs[i])
				}
				if d := seg.End.Sub(seg.Start); d <= 0 || d > tt.wantDurMax {
					t.Errorf("%s: duration %v, want (0, %v]", seg.File, d, tt.wantDurMax)
				}
			}
		})
	}
}

// TestStallFlush: a camera that stops sending mid-fragment still has its
// video on disk and fsynced within MaxLoss, without any further call.
func TestStallFlush(t *testing.T) {
	clip := recordtest.LoadClip(t, "static-360p.h264")
	st := openStore(t, t.TempDir())
	rec := record.New(st, "cam", record.Options{MaxLoss: 400 * time.Millisecond, Logf: t.Logf})
	defer rec.Close()
	s := clip.Stream
	s.Epoch = epoch
	rec.StreamStarted(s)
	for k := range 12 { // 480 ms: one 200 ms fragment written, the rest pending
		au := clip.AUs[k]
		au.DTS = time.Duration(k) * 40 * time.Millisecond
		au.PTS = au.DTS
		rec.WriteAccessUnit(&au)
	}
	// The flush is due 300 ms after the fragment began; allow a loaded machine
	// a few seconds of scheduling delay.
	want := epoch.Add(12 * 40 * time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); rec.Stats().LastSynced.Before(want) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if got := rec.Stats().LastSynced; got.Before(want) {
		t.Errorf("after a stall, fsynced up to %v, want %v", got, want)
	}
	segs := st.Segments("cam", time.Time{}, time.Time{})
	if len(segs) != 1 || !segs[0].Recording {
		t.Fatalf("segments %+v", segs)
	}
	if pr := recordtest.FFprobe(t, st.Path(segs[0])); pr.Frames != 12 || pr.Errors != "" {
		t.Errorf("open segment after the stall: %+v, want 12 frames", pr)
	}
}

// TestExportParamsOnlyInSDP: exporting from the middle of a segment of a
// camera that sends SPS/PPS only in the SDP still plays (they were put in
// front of every key frame).
func TestExportParamsOnlyInSDP(t *testing.T) {
	clip := recordtest.LoadClip(t, "moving-720p.hevc")
	dir := t.TempDir()
	st := openStore(t, dir)
	rec := record.New(st, "cam", record.Options{})
	s := clip.Stream
	s.Epoch = epoch
	rec.StreamStarted(s)
	for k, au := range clip.AUs {
		var nalus [][]byte
		for _, n := range au.NALUs {
			if t := (n[0] >> 1) & 0x3f; t < 32 || t > 34 {
				nalus = append(nalus, n)
			}
		}
		au.NALUs = nalus
		au.DTS = time.Duration(k) * 40 * time.Millisecond
		au.PTS = au.DTS
		rec.WriteAccessUnit(&au)
	}
	rec.StreamEnded(nil)
	out := filepath.Join(dir, "x.mp4")
	f, _ := os.Create(out)
	info, err := storage.Export(context.Background(), f, st, "cam", epoch.Add(5*time.Second), epoch.Add(9*time.Second))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if pr := recordtest.FFprobe(t, out); pr.Frames != 125 || pr.Errors != "" || pr.Codec != "hevc" {
		t.Errorf("export %+v: ffprobe %+v, want 125 hevc frames (from the key frame at 4 s)", info, pr)
	}
}

// TestExportAcrossSizeChange: an export over a change of picture size ends
// at the change and says so; the part before plays.
func TestExportAcrossSizeChange(t *testing.T) {
	c720 := recordtest.LoadClip(t, "moving-720p.h264")
	c360 := recordtest.LoadClip(t, "static-360p.h264")
	dir := t.TempDir()
	st := openStore(t, dir)
	rec := record.New(st, "cam", record.Options{})
	for i, c := range []*recordtest.Clip{c720, c360} {
		s := c.Stream
		s.Epoch = epoch
		rec.StreamStarted(s)
		for k := range 50 {
			au := c.AUs[k]
			au.DTS = time.Duration(i*50+k) * 40 * time.Millisecond
			au.PTS = au.DTS
			rec.WriteAccessUnit(&au)
		}
	}
	rec.StreamEnded(nil)
	out := filepath.Join(dir, "x.mp4")
	f, _ := os.Create(out)
	info, err := storage.Export(context.Background(), f, st, "cam", epoch, epoch.Add(4*time.Second))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !info.StoppedEarly || !info.StoppedAt.Equal(epoch.Add(2*time.Second)) || info.Samples != 50 {
		t.Errorf("export info %+v, want 50 samples, stopped early at 2 s", info)
	}
	if pr := recordtest.FFprobe(t, out); pr.Frames != 50 || pr.Errors != "" || pr.Width != 1280 {
		t.Errorf("export: ffprobe %+v, want 50 frames of 1280 wide", pr)
	}
	if _, err := storage.Export(context.Background(), io.Discard, st, "cam", epoch.Add(time.Hour), epoch.Add(2*time.Hour)); !errors.Is(err, storage.ErrNoRecordings) {
		t.Errorf("export of an empty range: %v, want ErrNoRecordings", err)
	}
}
