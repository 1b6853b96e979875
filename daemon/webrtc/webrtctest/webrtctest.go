// Package webrtctest is a browser stand-in for tests of the WebRTC live
// view: a pion peer connection that offers receive-only video, the way the
// admin page does, and collects the H.264 pictures it receives.
package webrtctest

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"

	"github.com/matthan/matthan/daemon/h264"
)

// Viewer is a browser stand-in: a pion peer connection that offers n
// receive-only video m-lines and collects the pictures it gets.
type Viewer struct {
	PC    *pion.PeerConnection
	Offer string // the offer, candidates gathered
	state chan pion.PeerConnectionState

	mu      sync.Mutex
	pics    [][]Picture // per m-line
	Gaps    []int       // sequence number gaps (lost packets) per m-line
	lastSeq []uint16
	// SoundCodec and Sound are the audio received: its codec and packets.
	SoundCodec string
	Sound      []rtp.Packet
}

// Picture is one received picture (the packets of one RTP timestamp).
type Picture struct {
	NALUs [][]byte
	TS    uint32    // RTP timestamp
	At    time.Time // when its last packet came
	Torn  bool      // a packet of it was lost or came out of order
}

// NewViewer offers n receive-only video m-lines and waits for its
// candidates (Offer).
func NewViewer(t testing.TB, n int) *Viewer { return newViewer(t, n, false) }

// NewViewerWithSound offers one camera's video and its sound (an audio
// m-line, as the page does for a one-camera view).
func NewViewerWithSound(t testing.TB) *Viewer { return newViewer(t, 1, true) }

func newViewer(t testing.TB, n int, sound bool) *Viewer {
	t.Helper()
	var se pion.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(me)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v := &Viewer{PC: pc, state: make(chan pion.PeerConnectionState, 16), pics: make([][]Picture, n), Gaps: make([]int, n), lastSeq: make([]uint16, n)}
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		select {
		case v.state <- s:
		default:
		}
	})
	var trs []*pion.RTPTransceiver
	for range n {
		tr, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly})
		if err != nil {
			t.Fatal(err)
		}
		trs = append(trs, tr)
	}
	if sound {
		if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeAudio, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *pion.TrackRemote, rcv *pion.RTPReceiver) {
		if tr.Kind() == pion.RTPCodecTypeAudio {
			go v.readAudio(tr)
			return
		}
		idx := -1
		for i, x := range trs {
			if x.Receiver() == rcv {
				idx = i
			}
		}
		go v.read(idx, tr)
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	v.Offer = pc.LocalDescription().SDP
	return v
}

// read depacketises one track into pictures (by RTP timestamp).
func (v *Viewer) read(idx int, tr *pion.TrackRemote) {
	var dep codecs.H264Packet
	cur := Picture{TS: 1<<32 - 1}
	for {
		var p rtp.Packet
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		p = *pkt
		gap := false
		if v.lastSeq[idx] != 0 && p.SequenceNumber != v.lastSeq[idx]+1 {
			v.mu.Lock()
			v.Gaps[idx]++
			gap = true
			v.mu.Unlock()
		}
		v.lastSeq[idx] = p.SequenceNumber
		if p.Timestamp != cur.TS {
			cur = Picture{TS: p.Timestamp, At: time.Now()}
		}
		cur.Torn = cur.Torn || gap
		if annexB, err := dep.Unmarshal(p.Payload); err == nil && len(annexB) > 0 {
			cur.NALUs = append(cur.NALUs, h264.NALUnits(annexB)...)
		}
		if p.Marker {
			v.mu.Lock()
			v.pics[idx] = append(v.pics[idx], cur)
			v.mu.Unlock()
			cur = Picture{TS: 1<<32 - 1}
		}
	}
}

func (v *Viewer) Pictures(idx int) []Picture {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Picture(nil), v.pics[idx]...)
}

func (v *Viewer) Accept(t testing.TB, answer string) {
	t.Helper()
	if err := v.PC.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
}

// waitState waits for one of the states.
func (v *Viewer) WaitState(t testing.TB, within time.Duration, want ...pion.PeerConnectionState) pion.PeerConnectionState {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case s := <-v.state:
			for _, w := range want {
				if s == w {
					return s
				}
			}
		case <-deadline:
			t.Fatalf("viewer not %v within %v (now %v)", want, within, v.PC.ConnectionState())
			return 0
		}
	}
}

// readAudio collects the audio packets.
func (v *Viewer) readAudio(tr *pion.TrackRemote) {
	v.mu.Lock()
	v.SoundCodec = tr.Codec().MimeType
	v.mu.Unlock()
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		v.Sound = append(v.Sound, *p)
		v.mu.Unlock()
	}
}

// SoundPackets returns the audio packets so far and their codec.
func (v *Viewer) SoundPackets() (string, []rtp.Packet) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.SoundCodec, append([]rtp.Packet(nil), v.Sound...)
}
