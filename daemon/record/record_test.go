package record_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

var epoch = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func openStore(t *testing.T, dir string) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), dir, storage.Options{Logf: t.Logf, MinFreeBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// feed sends loops of clip to rec as one stream, DTS continuing across
// loops, after `junk` non-key frames that must be dropped.
func feed(t *testing.T, rec media.Sink, clip *recordtest.Clip, loops, junk int) {
	t.Helper()
	st := clip.Stream
	st.Camera = "cam"
	st.Epoch = epoch
	if err := rec.StreamStarted(st); err != nil {
		t.Fatal(err)
	}
	frame := time.Second / time.Duration(clip.FPS)
	n := -junk // the junk comes before the clip's first key frame
	send := func(au media.AccessUnit) {
		au.DTS = time.Duration(n) * frame
		au.PTS = au.DTS
		if err := rec.WriteAccessUnit(&au); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for i := len(clip.AUs) - junk; i < len(clip.AUs); i++ {
		send(clip.AUs[i])
	}
	for range loops {
		for _, au := range clip.AUs {
			send(au)
		}
	}
	rec.StreamEnded(nil)
}

func TestRecordClips(t *testing.T) {
	for _, tt := range []struct {
		clip, codec string
		w, h        int
	}{
		{"moving-720p.h264", "h264", 1280, 720},
		{"moving-720p.hevc", "hevc", 1280, 720},
		{"static-360p.h264", "h264", 640, 360},
	} {
		t.Run(tt.clip, func(t *testing.T) {
			clip := recordtest.LoadClip(t, tt.clip)
			dir := t.TempDir()
			s := openStore(t, dir)
			rec := record.New(s, "cam", record.Options{SegmentDuration: 4 * time.Second, Logf: t.Logf})
			feed(t, rec, clip, 1, 5)
			st := rec.Stats()
			want := len(clip.AUs)
			if st.Frames != int64(want) || st.Dropped != 5 {
				t.Errorf("recorded %d frames, dropped %d; want %d and 5", st.Frames, st.Dropped, want)
			}
			segs := s.Segments("cam", time.Time{}, time.Time{})
			// Key frames every 2 s: cuts at 4 s and 8 s of the 10 s fed.
			wantFrames := []int{100, 100, want - 200}
			if len(segs) != len(wantFrames) {
				t.Fatalf("got %d segments, want %d: %+v", len(segs), len(wantFrames), segs)
			}
			total := 0
			for i, seg := range segs {
				p := s.Path(seg)
				pr := recordtest.FFprobe(t, p)
				wantDur := time.Duration(wantFrames[i]) * 40 * time.Millisecond
				if pr.Frames != wantFrames[i] || pr.Codec != tt.codec || pr.Width != tt.w || pr.Height != tt.h {
					t.Errorf("%s: ffprobe %+v, want %d frames of %s %dx%d", seg.File, pr, wantFrames[i], tt.codec, tt.w, tt.h)
				}
				if d := pr.Duration - wantDur; d < -40*time.Millisecond || d > 40*time.Millisecond {
					t.Errorf("%s: ffprobe duration %v, want %v", seg.File, pr.Duration, wantDur)
				}
				if got := seg.End.Sub(seg.Start); got != wantDur {
					t.Errorf("%s: index duration %v, want %v", seg.File, got, wantDur)
				}
				if want := epoch.Add(time.Duration(total) * 40 * time.Millisecond); !seg.Start.Equal(want) {
					t.Errorf("%s: start %v, want %v", seg.File, seg.Start, want)
				}
				if msg := recordtest.FFmpegErrors(t, p); msg != "" {
					t.Errorf("%s: ffmpeg: %s", seg.File, msg)
				}
				fi, err := os.Stat(p)
				if err != nil || fi.Size() != seg.Bytes {
					t.Errorf("%s: size on disk %v (%v), index says %d", seg.File, fi.Size(), err, seg.Bytes)
				}
				total += wantFrames[i]
			}

			// Export 3 s .. 7 s: starts at the key frame at 2 s, crosses a segment cut.
			out := filepath.Join(dir, "export.mp4")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			info, err := storage.Export(context.Background(), f, s, "cam", epoch.Add(3*time.Second), epoch.Add(7*time.Second))
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !info.Start.Equal(epoch.Add(2*time.Second)) || !info.End.Equal(epoch.Add(7*time.Second)) || info.Samples != 125 {
				t.Errorf("export info %+v, want 2 s .. 7 s, 125 samples", info)
			}
			if len(info.Covered) != 1 || !info.Covered[0].From.Equal(info.Start) || !info.Covered[0].To.Equal(info.End) {
				t.Errorf("export covers %v, want the one interval %v .. %v", info.Covered, info.Start, info.End)
			}
			pr := recordtest.FFprobe(t, out)
			if pr.Frames != 125 || pr.Duration < 4960*time.Millisecond || pr.Duration > 5040*time.Millisecond {
				t.Errorf("export: ffprobe %+v, want 125 frames, 5 s", pr)
			}
			if msg := recordtest.FFmpegErrors(t, out); msg != "" {
				t.Errorf("export: ffmpeg: %s", msg)
			}
		})
	}
}
