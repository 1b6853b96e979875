package record_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/record"
)

// TestAudioTrack: a stream with G.711 sound records it as a second track
// of the same fragments (16-bit LPCM, as long as the video) only when the
// camera's switch is on; off (the default), the segments hold video only.
// A power cut anywhere in a two-track segment leaves whole fragments of
// both tracks (the scan repair uses stops at the torn one).
func TestAudioTrack(t *testing.T) {
	clip := recordtest.LoadClip(t, "moving-720p.h264")
	for _, on := range []bool{false, true} {
		s := openStore(t, t.TempDir())
		rec := record.New(s, "cam", record.Options{SegmentDuration: time.Minute, Audio: on})
		st := clip.Stream
		st.Camera, st.Epoch = "cam", epoch
		st.Audio = &media.Audio{Codec: media.PCMA, SampleRate: 8000, Channels: 1}
		if err := rec.StreamStarted(st); err != nil {
			t.Fatal(err)
		}
		g711 := make([]byte, 160) // 20 ms
		for i := range g711 {
			g711[i] = 0xd5 ^ byte(i&7)
		}
		frame := time.Second / time.Duration(clip.FPS)
		sound := time.Duration(0)
		for n, au := range clip.AUs {
			au.DTS = time.Duration(n) * frame
			au.PTS = au.DTS
			if err := rec.WriteAccessUnit(&au); err != nil {
				t.Fatal(err)
			}
			for ; sound < au.DTS+frame; sound += 20 * time.Millisecond {
				if err := rec.WriteAudio(&media.AudioUnit{PTS: sound, Data: g711}); err != nil {
					t.Fatal(err)
				}
			}
		}
		rec.StreamEnded(nil)
		segs := s.Segments("cam", time.Time{}, time.Time{})
		if len(segs) != 1 {
			t.Fatalf("audio %v: %d segments", on, len(segs))
		}
		path := s.Path(segs[0])
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		l, err := fmp4.ScanSegment(bytes.NewReader(b), int64(len(b)))
		if err != nil || l.TailErr != nil {
			t.Fatalf("audio %v: scan: %v %v", on, err, l.TailErr)
		}
		if !on {
			if l.Init.Audio != nil {
				t.Errorf("the switch is off, yet the segment has an audio track %+v", l.Init.Audio)
			}
			continue
		}
		if a := l.Init.Audio; a == nil || a.SampleEntry != "sowt" || a.Timescale != 8000 || a.Channels != 1 {
			t.Fatalf("audio track %+v, want sowt 8000 Hz mono", l.Init.Audio)
		}
		var samples, size uint64
		for _, fr := range l.Fragments {
			for _, sm := range fr.Audio {
				samples += uint64(sm.Duration)
				size += uint64(sm.Size)
			}
		}
		video := time.Duration(l.Duration()) * time.Second / fmp4.Timescale
		audio := time.Duration(samples) * time.Second / 8000
		if d := audio - video; d < -100*time.Millisecond || d > 100*time.Millisecond || size != 2*samples {
			t.Errorf("audio %v (%d bytes for %d samples), video %v", audio, size, samples, video)
		}
		pr := recordtest.FFprobe(t, path)
		if msg := recordtest.FFmpegErrors(t, path); msg != "" || pr.Frames != len(clip.AUs) {
			t.Errorf("ffmpeg: %q, %d frames", msg, pr.Frames)
		}
		// Cut the file anywhere: what scans is whole fragments of both tracks.
		for cut := l.InitSize + 1; cut < int64(len(b)); cut += int64(len(b)) / 37 {
			lc, err := fmp4.ScanSegment(bytes.NewReader(b[:cut]), cut)
			if err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			if n := len(lc.Fragments); n > 0 && (lc.ValidSize > cut || len(lc.Fragments[n-1].Audio) != len(l.Fragments[n-1].Audio)) {
				t.Errorf("cut at %d: last fragment kept has %d audio samples, the whole had %d", cut, len(lc.Fragments[n-1].Audio), len(l.Fragments[n-1].Audio))
			}
		}
	}
}
