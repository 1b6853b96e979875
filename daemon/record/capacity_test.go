package record_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

// BenchmarkDaysOfVideoPerTB: how many days a 1 TB recording disk holds for
// 18 cameras (camsim's: odd cameras the moving 720p clip, even ones the
// static 720p clip). Each clip is recorded through the real recorder and
// store (default segments and fsync policy) for two minutes of video; what
// lands on disk (segment files and journals, in 4 KiB blocks) per second of
// video is each camera's measured rate.
func BenchmarkDaysOfVideoPerTB(b *testing.B) {
	const cameras = 18
	const seconds = 120
	for b.Loop() {
		var perSec float64 // bytes on disk per second, all cameras
		for _, c := range []struct {
			clip string
			n    int
		}{{"moving-720p.h264", cameras / 2}, {"static-720p.h264", cameras / 2}} {
			clip := recordtest.LoadClip(b, c.clip)
			dir := b.TempDir()
			st, err := storage.Open(context.Background(), dir, storage.Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			rec := record.New(st, "cam", record.Options{})
			s := clip.Stream
			s.Camera, s.Epoch = "cam", time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
			rec.StreamStarted(s)
			frame := time.Second / time.Duration(clip.FPS)
			for n := range seconds * clip.FPS {
				au := clip.AUs[n%len(clip.AUs)]
				au.DTS = time.Duration(n) * frame
				au.PTS = au.DTS
				if err := rec.WriteAccessUnit(&au); err != nil {
					b.Fatal(err)
				}
			}
			rec.StreamEnded(nil)
			st.Close()
			var onDisk int64
			filepath.WalkDir(filepath.Join(dir, "recordings", "cam"), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if fi, err := d.Info(); err == nil {
						onDisk += (fi.Size() + 4095) &^ 4095
					}
				}
				return nil
			})
			rate := float64(onDisk) / seconds
			b.ReportMetric(rate*8/1e6, "Mbit/s-"+c.clip[:len(c.clip)-5])
			perSec += rate * float64(c.n)
		}
		b.ReportMetric(1e12/(perSec*86400), "days/TB")
		b.ReportMetric(perSec*86400/1e9, "GB/day")
	}
}
