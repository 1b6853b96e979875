package camsim

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

const frameInterval = time.Second / FrameRate

// rtpClockRate is the video RTP clock (90 kHz).
const rtpClockRate = 90000

// maxLateness is how far behind the wall clock a camera may fall before it
// skips frames instead of sending them in a burst.
const maxLateness = time.Second

// Camera is one simulated camera: a main stream and a sub stream that play
// in step, and the faults it has been told to show.
type Camera struct {
	name string
	sim  *Sim
	main *stream
	sub  *stream

	mu     sync.Mutex
	faults faultState

	lostPackets atomic.Uint64 // not sent: a reader's write queue was full

	// ONVIF (Config.ONVIF): the device service and its address.
	dev      *Device
	httpSrv  *http.Server
	devURL   string
	endpoint string
}

// stream is one RTSP path of a camera.
type stream struct {
	cam     *Camera
	path    string
	clip    *Clip
	st      *gortsplib.ServerStream
	media   *description.Media
	readers atomic.Int32 // sessions in PLAY state
	pkt     rtp.Packet   // reused for every packet: no allocation per packet

	audio      *AudioClip // nil: no sound
	audioMedia *description.Media
	apkt       rtp.Packet
	aSent      int64 // audio units due since the camera started
}

func (st *stream) init(srv *gortsplib.Server) error {
	st.media = &description.Media{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{st.clip.Format()},
	}
	medias := []*description.Media{st.media}
	if st.audio != nil {
		st.audioMedia = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{st.audio.Format}}
		medias = append(medias, st.audioMedia)
		st.apkt.Header = rtp.Header{Version: 2, PayloadType: st.audio.Format.PayloadType(), SequenceNumber: uint16(time.Now().UnixNano() >> 8)}
	}
	st.st = &gortsplib.ServerStream{
		Server: srv,
		Desc:   &description.Session{Medias: medias},
	}
	if err := st.st.Initialize(); err != nil {
		return fmt.Errorf("init stream: %w", err)
	}
	st.pkt.Header = rtp.Header{Version: 2, PayloadType: rtpPayloadType, SequenceNumber: uint16(time.Now().UnixNano())}
	return nil
}

// Name is the camera's name and the path of its main stream ("cam1").
func (c *Camera) Name() string { return c.name }

// MainPath and SubPath are the RTSP paths (without leading slash).
func (c *Camera) MainPath() string { return c.main.path }

// SubPath is the RTSP path of the sub stream ("cam1/sub").
func (c *Camera) SubPath() string { return c.sub.path }

// URL is the main stream's RTSP URL.
func (c *Camera) URL() string { return "rtsp://" + c.sim.addr + "/" + c.main.path }

// SubURL is the sub stream's RTSP URL.
func (c *Camera) SubURL() string { return "rtsp://" + c.sim.addr + "/" + c.sub.path }

// Codec is the main stream's codec.
func (c *Camera) Codec() Codec { return c.main.clip.Codec }

// Readers is the number of sessions playing the main and the sub stream.
func (c *Camera) Readers() (main, sub int) {
	return int(c.main.readers.Load()), int(c.sub.readers.Load())
}

// rtpTime is the 90 kHz RTP clock at wall-clock time t (before any offset).
func rtpTime(t time.Time) uint32 {
	return uint32(t.UnixMicro() * 9 / 100)
}

// run paces the camera's frames at FrameRate from start until ctx ends.
func (c *Camera) run(ctx context.Context, start time.Time, startFrame int) {
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	var rng uint64 = uint64(start.UnixNano()) | 1
	for n := int64(0); ; n++ {
		due := start.Add(time.Duration(n) * frameInterval)
		if late := time.Since(due); late > maxLateness {
			// Fell far behind (machine overloaded, process stopped): skip
			// ahead like a real camera, whose clock kept running.
			n += int64(late / frameInterval)
			due = start.Add(time.Duration(n) * frameInterval)
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		fs := c.snapshot(due)
		if fs.stalled {
			continue
		}
		frame := (int64(startFrame) + n) % int64(len(c.main.clip.Frames))
		ts := rtpTime(due) + fs.tsOffset
		c.main.send(int(frame), ts, due, &fs, &rng)
		c.sub.send(int(frame)%len(c.sub.clip.Frames), ts, due, &fs, &rng)
		c.main.sendAudio(start, due)
	}
}

// sendAudio sends the sound units due by due (the camera started at
// start), timed on the wall clock like the pictures: the RTP clock is the
// sample rate counted from the Unix epoch.
func (st *stream) sendAudio(start, due time.Time) {
	a := st.audio
	if a == nil {
		return
	}
	unit := a.unitDuration()
	if n := int64(due.Sub(start) / unit); n-st.aSent > int64(maxLateness/unit) {
		st.aSent = n // fell behind with the pictures: skip ahead too
	}
	base := start.UnixMicro() * int64(a.Rate) / 1e6
	for ; start.Add(time.Duration(st.aSent) * unit).Before(due.Add(unit)); st.aSent++ {
		if st.readers.Load() == 0 {
			continue
		}
		st.apkt.SequenceNumber++
		st.apkt.Timestamp = uint32(base + st.aSent*int64(a.UnitSamples))
		st.apkt.Marker = true
		st.apkt.Payload = a.Payloads[int(st.aSent%int64(len(a.Payloads)))]
		if err := st.st.WritePacketRTPWithNTP(st.audioMedia, &st.apkt, start.Add(time.Duration(st.aSent)*unit)); err != nil {
			return
		}
	}
}

// send writes frame i of the clip to every reader of the stream.
func (st *stream) send(i int, ts uint32, ntp time.Time, fs *faultSnapshot, rng *uint64) {
	if st.readers.Load() == 0 {
		st.pkt.SequenceNumber += uint16(len(st.clip.Frames[i].InBand))
		return
	}
	f := &st.clip.Frames[i]
	payloads := f.InBand
	if fs.sdpOnly {
		payloads = f.NoParams
	}
	st.pkt.Timestamp = ts
	for j, p := range payloads {
		st.pkt.SequenceNumber++
		st.pkt.Marker = j == len(payloads)-1
		if fs.garbage {
			p = garbagePayload(len(p), rng)
		}
		st.pkt.Payload = p
		if err := st.st.WritePacketRTPWithNTP(st.media, &st.pkt, ntp); err != nil {
			return // stream closed: the simulator is shutting down
		}
	}
}
