package ingest

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/hwtest/camsim"
	"github.com/matthan/matthan/hwtest/testenv"
)

type nullSink struct{}

func (nullSink) StreamStarted(media.Stream) error        { return nil }
func (nullSink) WriteAccessUnit(*media.AccessUnit) error { return nil }
func (nullSink) StreamEnded(error)                       {}

// loopConn replays an interleaved byte stream forever.
type loopConn struct {
	chunkConn
	all []byte
}

func (c *loopConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		c.data = c.all
	}
	return c.chunkConn.Read(p)
}

// BenchmarkIngestPath measures the per-packet work of the daemon's own
// ingest path on the 720p clip: interleaved framing (tapConn), RTP header,
// depacketizing, parameter sets and timing, into a sink that does nothing.
// It reports ns per RTP packet and must not allocate.
func BenchmarkIngestPath(b *testing.B) {
	clip, err := camsim.LoadClip(testenv.NeedFile(b, filepath.Join(testenv.OutDir(), "clips", camsim.ClipMoving720), "make clips"), camsim.H264)
	if err != nil {
		b.Fatal(err)
	}
	// One clip's worth of interleaved RTP, as a camera sends it.
	var stream bytes.Buffer
	seq := uint16(0)
	packets := 0
	for i, f := range clip.Frames {
		for j, p := range f.InBand {
			hdr := []byte{0x80, 96, byte(seq >> 8), byte(seq), 0, 0, 0, 0, 1, 2, 3, 4}
			ts := uint32(i * 3600)
			hdr[4], hdr[5], hdr[6], hdr[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
			if j == len(f.InBand)-1 {
				hdr[1] |= 0x80
			}
			n := len(hdr) + len(p)
			stream.Write([]byte{'$', 0, byte(n >> 8), byte(n)})
			stream.Write(hdr)
			stream.Write(p)
			seq++
			packets++
		}
		// An RTCP packet per picture gives Read something to return.
		stream.Write(frame(1, []byte{0x80, 201, 0, 1, 0, 0, 0, 1}))
	}
	cam := &Camera{name: "bench", opts: Options{}}
	cam.opts.defaults()
	pipe := newPipeline("bench", media.H264, nullSink{}, &cam.stats, cam.opts.Clock)
	rx := &receiver{cam: cam, pipe: pipe, asm: newAssembler(media.H264), payloadType: 96}
	rx.emit = rx.accessUnit
	conn := &loopConn{all: stream.Bytes(), chunkConn: chunkConn{n: 1500}}
	tap := newTapConn(conn, rx.packet)
	tap.rtp.Store(0)
	tap.injectInterval = time.Hour
	tap.lastInject = time.Now()
	sink := make([]byte, 4096)

	// Warm up one loop (buffers grow to the largest key frame).
	start := cam.stats.packets.Load()
	for cam.stats.packets.Load()-start < uint64(packets) {
		tap.Read(sink)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start = cam.stats.packets.Load()
	for cam.stats.packets.Load()-start < uint64(b.N) {
		tap.Read(sink)
	}
	b.StopTimer()
	if d := cam.stats.droppedErrors.Load(); d > 1 {
		// One loop seam (the clip's sequence restarts) is expected per pass.
		b.Logf("%d drops over %d packets", d, cam.stats.packets.Load())
	}
	if cam.stats.accessUnits.Load() == 0 {
		b.Fatal("no access unit reached the sink")
	}
}
