package stream

import (
	"testing"

	"github.com/matthan/matthan/daemon/media"
)

type discard struct{}

func (discard) StreamStarted(media.Stream) error        { return nil }
func (discard) WriteAccessUnit(*media.AccessUnit) error { return nil }
func (discard) StreamEnded(error)                       {}

// BenchmarkPublish: one 720p picture (40 KB, a key frame every 50) from
// the camera to 1 and 3 readers, time on the camera's side (the copy and
// the queueing; the readers run on their own goroutines). The queues hold
// every picture, so none is cut and each is copied.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run([]string{"", "1_reader", "", "3_readers"}[n], func(b *testing.B) {
			p := New()
			var rs []*Reader
			for range n {
				rs = append(rs, p.Add("r", discard{}, ReaderOptions{Queue: b.N + 1, Bytes: (b.N + 1) << 16}))
			}
			p.StreamStarted(media.Stream{Camera: "cam1"})
			payload := make([]byte, 40<<10)
			au := &media.AccessUnit{NALUs: [][]byte{payload}}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				au.Key = i%50 == 0
				p.WriteAccessUnit(au)
			}
			b.StopTimer()
			p.Close()
			for _, r := range rs {
				if st := r.Stats(); st.Dropped > 0 {
					b.Fatalf("%d pictures cut", st.Dropped)
				}
			}
		})
	}
}
