package webrtc

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/webrtc/webrtctest"
)

// soundCamera plays a clip with G.711 sound (20 ms a unit, each unit's
// bytes its own sequence number) into a hub feed, in real time.
func soundCamera(t *testing.T, hub *live.Hub, name string, codec media.AudioCodec, switchOn bool) {
	t.Helper()
	c := recordtest.LoadClip(t, "moving-360p.h264")
	f := hub.Feed(name)
	f.SetAudio(switchOn)
	st := c.Stream
	st.Camera, st.Codec, st.Epoch = name, media.H264, time.Now()
	st.Audio = &media.Audio{Codec: codec, SampleRate: 8000, Channels: 1}
	if err := f.StreamStarted(st); err != nil {
		t.Fatal(err)
	}
	every(t, 20*time.Millisecond, func(i int) {
		at := time.Duration(i) * 20 * time.Millisecond
		if i%2 == 0 {
			au := c.AUs[(i/2)%len(c.AUs)]
			au.DTS, au.PTS = at, at
			f.WriteAccessUnit(&au)
		}
		f.WriteAudio(&media.AudioUnit{PTS: at, Data: bytes.Repeat([]byte{byte(i)}, 160)})
	})
}

func TestSoundOverWebRTC(t *testing.T) {
	hub := live.NewHub()
	soundCamera(t, hub, "pcma", media.PCMA, true)
	soundCamera(t, hub, "pcmu", media.PCMU, true)
	soundCamera(t, hub, "quiet", media.PCMA, false) // its sound switch is off
	srv := newServer(t, hub, Config{})
	time.Sleep(300 * time.Millisecond)
	for _, tc := range []struct {
		cam, want string
	}{{"pcma", pion.MimeTypePCMA}, {"pcmu", pion.MimeTypePCMU}, {"quiet", ""}} {
		t.Run(tc.cam, func(t *testing.T) {
			v := webrtctest.NewViewerWithSound(t)
			answer, err := srv.Answer(context.Background(), Request{User: "a", Cameras: []string{tc.cam}, Offer: v.Offer})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && !strings.Contains(answer, strings.TrimPrefix(tc.want, "audio/")+"/8000") {
				t.Errorf("answer without %s:\n%s", tc.want, answer)
			}
			v.Accept(t, answer)
			v.WaitState(t, 5*time.Second, pion.PeerConnectionStateConnected)
			codec, pkts := v.SoundPackets()
			for until := time.Now().Add(3 * time.Second); tc.want != "" && len(pkts) < 25 && time.Now().Before(until); codec, pkts = v.SoundPackets() {
				time.Sleep(100 * time.Millisecond)
			}
			if tc.want == "" {
				time.Sleep(time.Second)
				codec, pkts = v.SoundPackets()
			}
			if tc.want == "" {
				if len(pkts) != 0 {
					t.Errorf("%d sound packets from a camera whose sound switch is off", len(pkts))
				}
				return
			}
			if codec != tc.want || len(pkts) < 25 {
				t.Fatalf("sound %s, %d packets in 3 s; want %s, 25 at least", codec, len(pkts), tc.want)
			}
			// G.711 as it came: 160 bytes of one value per unit, 160 RTP
			// ticks apart, the RTP time the box clock at 8 kHz.
			for i, p := range pkts {
				if len(p.Payload) != 160 || bytes.Count(p.Payload, p.Payload[:1]) != 160 {
					t.Fatalf("packet %d: %d bytes, not one unit", i, len(p.Payload))
				}
				if i > 0 && p.Timestamp-pkts[i-1].Timestamp != 160*uint32(p.Payload[0]-pkts[i-1].Payload[0]) {
					t.Errorf("packet %d: RTP time step %d for unit step %d", i, p.Timestamp-pkts[i-1].Timestamp, p.Payload[0]-pkts[i-1].Payload[0])
				}
			}
			last := pkts[len(pkts)-1]
			now := time.Now().UnixMilli() * 8
			if lag := uint32(now) - last.Timestamp; lag > 8*500 {
				t.Errorf("sound's RTP time %d ticks behind the box clock", lag)
			}
		})
	}
	// The wall carries no sound: an audio m-line beside two cameras is refused.
	v := webrtctest.NewViewerWithSound(t)
	if _, err := srv.Answer(context.Background(), Request{User: "a", Cameras: []string{"pcma", "pcmu"}, Offer: v.Offer}); err == nil {
		t.Error("two cameras, one audio m-line: answered")
	}
}
