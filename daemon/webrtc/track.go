package webrtc

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/live"
)

// rtpMTU is the most payload bytes of one RTP packet (an IPv4/UDP/SRTP
// packet stays under a 1280-byte path MTU).
const rtpMTU = 1150

// catchUpStep is the RTP time between the pictures a new viewer is sent
// at once (the key frame and the pictures since): 1 ms, so the browser
// decodes them in a burst and shows the newest, instead of playing the
// camera's last seconds again behind real time.
const catchUpStep = 90

// catchUpRate paces those pictures (bytes a second): sent in one burst,
// seconds of video overflow the receiver's socket buffer and are lost.
// catchUpBurst is how far ahead of that rate the sender may run.
const (
	catchUpRate  = 6 << 20
	catchUpBurst = 48 << 10
)

// pacer holds senders to a rate (one per session: the cameras of a wall
// catch up together).
type pacer struct {
	mu    sync.Mutex
	start time.Time
	sent  int
	rate  int
}

// add counts n bytes sent and sleeps while the sender runs ahead.
func (p *pacer) add(ctx context.Context, n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	now := time.Now()
	if p.start.IsZero() || now.Sub(p.start) > time.Duration(p.sent)*time.Second/time.Duration(p.rate)+time.Second {
		p.start, p.sent = now, 0 // idle for a while: start over
	}
	p.sent += n
	ahead := time.Duration(p.sent-catchUpBurst)*time.Second/time.Duration(p.rate) - now.Sub(p.start)
	p.mu.Unlock()
	if ahead > 0 {
		t := time.NewTimer(ahead)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// rtpTrack is a video track that learns, when bound, the ID the browser
// gave the playout-delay header extension (0: not negotiated).
type rtpTrack struct {
	*pion.TrackLocalStaticRTP
	playoutID atomic.Uint32
}

// Bind implements pion.TrackLocal.
func (t *rtpTrack) Bind(c pion.TrackLocalContext) (pion.RTPCodecParameters, error) {
	p, err := t.TrackLocalStaticRTP.Bind(c)
	for _, e := range c.HeaderExtensions() {
		if e.URI == playoutDelayURI {
			t.playoutID.Store(uint32(e.ID))
		}
	}
	return p, err
}

// playoutNow is the extension's value: show at once (0 ms min and max).
var playoutNow, _ = rtp.PlayoutDelayExtension{MinDelay: 0, MaxDelay: 0}.Marshal()

// videoTrack forwards one camera's live feed into one RTP video track.
//
// Its RTP timestamps are the pictures' wall-clock times (the box's clock)
// in 90 kHz ticks, modulo 2^32: the page reads the picture's time from a
// frame's RTP timestamp, and its latency with it (see TimeOfRTP).
type videoTrack struct {
	camera  string
	sub     *live.Subscription
	first   *live.Message // peeked at by subscribe
	profile string
	track   *rtpTrack
	pace    *pacer // the session's, for catching up
	// sound is the MIME type of the camera's G.711 when the viewer takes
	// it; audio its track (nil: none).
	sound    string
	soundSub *live.Subscription // the main stream's sound alone
	audio    *pion.TrackLocalStaticRTP
	aseq     uint16
	apkt     rtp.Packet
	talking  bool // a packet went: the next ones carry no marker

	pay     codecs.H264Payloader
	seq     uint16
	pkt     rtp.Packet
	h264    bool // the stream now is H.264 (else nothing is sent)
	epochMs int64
	sps     []byte
	pps     []byte
	lenSize int
	nalus   [][]byte
	pays    [][]byte
}

// RTPTime is the RTP timestamp of a picture at wall-clock time t.
func RTPTime(t time.Time) uint32 { return uint32(t.UnixMilli() * 90) }

// TimeOfRTP is the wall-clock time of RTP timestamp ts, the one within
// 13 hours before now (the timestamp wraps every 13.25 hours).
func TimeOfRTP(ts uint32, now time.Time) time.Time {
	back := RTPTime(now) - ts // modulo 2^32
	return now.Add(-time.Duration(back) * time.Second / 90000)
}

// run waits for the connection, then forwards until ctx ends or the
// subscription closes.
func (v *videoTrack) run(ctx context.Context, connected <-chan struct{}) {
	select {
	case <-connected:
	case <-ctx.Done():
		return
	}
	v.seq = uint16(rand.Uint32())
	var pending *live.Message
	if v.first != nil {
		pending, v.first = v.first, nil
	}
	for {
		var m live.Message
		if pending != nil {
			m, pending = *pending, nil
		} else {
			var err error
			if m, err = v.sub.Next(ctx); err != nil {
				return
			}
		}
		switch {
		case m.Start != nil:
			if err := v.start(m); err != nil {
				v.h264 = false
				continue
			}
			pending = v.catchUp(ctx)
		case m.Frag != nil && v.h264:
			v.send(ctx, m.Frag, v.rtpTime(m.DTS), nil)
		}
	}
}

// start takes a stream's init segment: its parameter sets are sent in
// front of key frames that lack them.
func (v *videoTrack) start(m live.Message) error {
	v.h264 = false
	if !isH264(m.Start.Codec) {
		return fmt.Errorf("camera %s: codec %s", v.camera, m.Start.Codec)
	}
	info, err := fmp4.ParseInit(m.Init)
	if err != nil {
		return fmt.Errorf("camera %s: %w", v.camera, err)
	}
	c, err := fmp4.ParseAVCConfig(info.Config)
	if err != nil {
		return fmt.Errorf("camera %s: %w", v.camera, err)
	}
	if len(c.SPS) == 0 || len(c.PPS) == 0 {
		return fmt.Errorf("camera %s: no parameter sets", v.camera)
	}
	v.sps, v.pps, v.lenSize = c.SPS[0], c.PPS[0], c.LengthSize
	v.epochMs = m.Start.EpochMs
	v.h264 = true
	return nil
}

// catchUp sends at once the pictures already queued (a new viewer's key
// frame and those since, or a stream that just restarted), their RTP times
// a millisecond apart up to the newest one's own. It returns the first
// message that is not a picture, if it met one.
func (v *videoTrack) catchUp(ctx context.Context) *live.Message {
	var frags []live.Message
	var stop *live.Message
drain:
	for {
		select {
		case m, ok := <-v.sub.C:
			if !ok {
				break drain
			}
			if m.Frag == nil {
				stop = &m
				break drain
			}
			frags = append(frags, m)
		default:
			break drain
		}
	}
	if len(frags) == 0 {
		return stop
	}
	last := v.rtpTime(frags[len(frags)-1].DTS)
	for i, m := range frags {
		v.send(ctx, m.Frag, last-uint32(len(frags)-1-i)*catchUpStep, v.pace)
	}
	return stop
}

func (v *videoTrack) rtpTime(dts time.Duration) uint32 {
	return uint32(v.epochMs*90 + int64(dts)*9/100000)
}

// send packetises one fragment (moof+mdat of one picture) into RTP, paced
// by p if not nil.
func (v *videoTrack) send(ctx context.Context, frag []byte, ts uint32, p *pacer) {
	nalus, err := v.picture(frag)
	if err != nil || len(nalus) == 0 {
		return // a fragment the hub built is well-formed; skip if not
	}
	key, hasSPS := false, false
	for _, n := range nalus {
		switch h264.NALType(n) {
		case h264.NALIDRSlice:
			key = true
		case h264.NALSPS:
			hasSPS = true
		}
	}
	v.pays = v.pays[:0]
	if key && !hasSPS {
		v.pays = append(v.pays, v.pay.Payload(rtpMTU, v.sps)...)
		v.pays = append(v.pays, v.pay.Payload(rtpMTU, v.pps)...)
	}
	for _, n := range nalus {
		v.pays = append(v.pays, v.pay.Payload(rtpMTU, n)...)
	}
	for i, b := range v.pays {
		v.pkt.Header = rtp.Header{Version: 2, Marker: i == len(v.pays)-1, SequenceNumber: v.seq, Timestamp: ts}
		if id := v.track.playoutID.Load(); id != 0 && i == 0 {
			v.pkt.Header.SetExtension(uint8(id), playoutNow)
		}
		v.pkt.Payload = b
		v.seq++
		if v.track.WriteRTP(&v.pkt) != nil {
			return // the connection is going: the session closes
		}
		p.add(ctx, len(b)+12)
	}
}

// picture returns the NAL units of a fragment's one sample.
func (v *videoTrack) picture(frag []byte) ([][]byte, error) {
	if len(frag) < 8 {
		return nil, fmt.Errorf("fragment of %d bytes", len(frag))
	}
	moofSize := binary.BigEndian.Uint32(frag)
	if int64(moofSize) > int64(len(frag)) {
		return nil, fmt.Errorf("moof of %d bytes in %d", moofSize, len(frag))
	}
	fi, err := fmp4.ParseMoof(frag[:moofSize], 0)
	if err != nil {
		return nil, err
	}
	v.nalus = v.nalus[:0]
	for _, s := range fi.Samples {
		end := s.Offset + int64(s.Size)
		if s.Offset < 0 || end > int64(len(frag)) {
			return nil, fmt.Errorf("sample past its fragment")
		}
		n, err := fmp4.SplitSample(frag[s.Offset:end], v.lenSize)
		if err != nil {
			return nil, err
		}
		v.nalus = append(v.nalus, n...)
	}
	return v.nalus, nil
}

// runSound forwards the camera's sound until ctx ends or its
// subscription closes.
func (v *videoTrack) runSound(ctx context.Context, connected <-chan struct{}) {
	select {
	case <-connected:
	case <-ctx.Done():
		return
	}
	v.aseq = uint16(rand.Uint32())
	for len(v.soundSub.C) > 0 { // what came before the connection: the past
		<-v.soundSub.C
	}
	for {
		m, err := v.soundSub.Next(ctx)
		if err != nil {
			return
		}
		if m.Audio != nil {
			v.sendAudio(m.Audio)
		}
	}
}

// audioChunk is the most G.711 samples (bytes) in one RTP packet: 60 ms.
const audioChunk = 480

// sendAudio sends a piece of G.711 as it came, in packets of at most
// 60 ms; its RTP time is the box clock at 8 kHz.
func (v *videoTrack) sendAudio(a *live.AudioFrame) {
	ts := uint32(a.EpochMs*8 + int64(a.PTS)*8/1000000)
	for data := a.Data; len(data) > 0; {
		n := min(len(data), audioChunk)
		v.apkt.Header = rtp.Header{Version: 2, Marker: !v.talking, SequenceNumber: v.aseq, Timestamp: ts}
		v.apkt.Payload = data[:n]
		v.aseq++
		v.talking = true
		if v.audio.WriteRTP(&v.apkt) != nil {
			return
		}
		data, ts = data[n:], ts+uint32(n)
	}
}
