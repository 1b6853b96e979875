package webrtc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/matthan/matthan/daemon/live"
)

// gatherTimeout bounds the wait for the box's own candidates (host
// candidates on one socket: at once, normally).
const gatherTimeout = 2 * time.Second

// session is one browser page's peer connection and its cameras' queues.
type session struct {
	srv    *Server
	user   string
	tracks int

	pc        *pion.PeerConnection
	vids      []*videoTrack
	connected chan struct{} // closed once ICE and DTLS are up
	connOnce  sync.Once

	closeOnce sync.Once
	done      chan struct{} // closed by close
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the forwarders
}

// subscribe opens camera's feed (its sub stream first when sub) and peeks
// at its first message: a camera streaming H.265 is refused here, so that
// the page falls back to MSE before any connection is made.
func (s *Server) subscribe(camera string, sub, sound bool) (*videoTrack, error) {
	var (
		q   *live.Subscription
		err error
	)
	if sub {
		q, err = s.cfg.Source.Subscribe(camera + "/sub")
	}
	if !sub || err != nil {
		if q, err = s.cfg.Source.Subscribe(camera); err != nil {
			return nil, fmt.Errorf("webrtc: camera %s: %w", camera, err)
		}
	}
	v := &videoTrack{camera: camera, sub: q, profile: h264Profiles[0]}
	select {
	case m, ok := <-q.C:
		if ok {
			v.first = &m
			if m.Start != nil {
				if !isH264(m.Start.Codec) {
					q.Close()
					return nil, fmt.Errorf("%w: camera %s sends %s", ErrUnsupported, camera, m.Start.Codec)
				}
				if p := profileOf(m.Start.Codec); p != "" {
					v.profile = p
				}

			}
		}
	default: // not streaming now: H.264 assumed, checked again at its start
	}
	// The sound is the main stream's (a sub stream's pictures included),
	// read through a queue of its own.
	if ss, ok := s.cfg.Source.(SoundSource); ok && sound {
		if v.sound = g711(ss.Sound(camera)); v.sound != "" {
			if v.soundSub, err = ss.SubscribeSound(camera); err != nil {
				v.sound = ""
			}
		}
	}
	return v, nil
}

func (se *session) open(ctx context.Context, req Request) (string, error) {
	se.ctx, se.cancel = context.WithCancel(context.Background())
	se.connected = make(chan struct{})
	pace := &pacer{rate: catchUpRate}
	// Sound goes with a one-camera view whose offer has an audio m-line
	// (the wall is silent), when the camera's G.711 is passed on.
	sound := len(req.Cameras) == 1 && strings.Contains(req.Offer, "m=audio")
	for _, cam := range req.Cameras {
		v, err := se.srv.subscribe(cam, req.Sub, sound)
		if err != nil {
			return "", err
		}
		v.pace = pace
		se.vids = append(se.vids, v)
	}
	se.srv.mu.Lock()
	certs, err := se.srv.certificate()
	se.srv.mu.Unlock()
	if err != nil {
		return "", err
	}
	pc, err := se.srv.api.NewPeerConnection(pion.Configuration{Certificates: certs})
	if err != nil {
		return "", fmt.Errorf("webrtc: new peer connection: %w", err)
	}
	se.pc = pc
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		switch st {
		case pion.PeerConnectionStateConnected:
			se.connOnce.Do(func() { close(se.connected) })
		case pion.PeerConnectionStateFailed, pion.PeerConnectionStateClosed, pion.PeerConnectionStateDisconnected:
			go se.close("connection " + st.String())
		}
	})
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: req.Offer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	videos, audios := 0, 0
	for _, t := range pc.GetTransceivers() {
		switch t.Kind() {
		case pion.RTPCodecTypeVideo:
			videos++
		case pion.RTPCodecTypeAudio:
			audios++
		}
	}
	if audios > 1 || audios == 1 && len(se.vids) != 1 {
		return "", fmt.Errorf("%w: %d audio m-lines for %d cameras", ErrBadOffer, audios, len(se.vids))
	}
	if videos != len(se.vids) {
		return "", fmt.Errorf("%w: %d video m-lines for %d cameras", ErrBadOffer, videos, len(se.vids))
	}
	for _, v := range se.vids {
		// AddTrack takes the offer's free video transceivers in order:
		// camera i goes to m-line i.
		st, err := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtpH264(v.profile)}, "video", v.camera)
		if err != nil {
			return "", fmt.Errorf("webrtc: track %s: %w", v.camera, err)
		}
		tr := &rtpTrack{TrackLocalStaticRTP: st}
		sender, err := pc.AddTrack(tr)
		if err != nil {
			return "", fmt.Errorf("%w: camera %s: %w", ErrBadOffer, v.camera, err)
		}
		v.track = tr
		go drainRTCP(sender)
	}
	for _, v := range se.vids {
		if v.sound == "" || audios == 0 {
			continue
		}
		tr, err := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: v.sound, ClockRate: 8000}, "audio", v.camera)
		if err != nil {
			return "", fmt.Errorf("webrtc: audio track %s: %w", v.camera, err)
		}
		sender, err := pc.AddTrack(tr)
		if err != nil {
			return "", fmt.Errorf("%w: camera %s audio: %w", ErrBadOffer, v.camera, err)
		}
		v.audio = tr
		go drainRTCP(sender)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("webrtc: set answer: %w", err)
	}
	gatherWait := time.NewTimer(gatherTimeout)
	defer gatherWait.Stop()
	select {
	case <-gathered:
	case <-gatherWait.C:
		return "", fmt.Errorf("webrtc: candidates not gathered in %v", gatherTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	for _, v := range se.vids {
		se.wg.Add(1)
		go func() {
			defer se.wg.Done()
			v.run(se.ctx, se.connected)
			se.close("camera " + v.camera + " ended") // its subscription closed
		}()
	}
	for _, v := range se.vids {
		if v.audio != nil {
			se.wg.Add(1)
			go func() {
				defer se.wg.Done()
				v.runSound(se.ctx, se.connected)
			}()
		}
	}
	go se.watch(req.Done)
	return pc.LocalDescription().SDP, nil
}

// watch ends the session with its login, or when it does not connect in time.
func (se *session) watch(login <-chan struct{}) {
	t := time.NewTimer(se.srv.cfg.ConnectTimeout)
	defer t.Stop()
	for {
		select {
		case <-login:
			se.close("login session ended")
			return
		case <-t.C:
			select {
			case <-se.connected:
			default:
				se.close("not connected in time")
				return
			}
		case <-se.done:
			return
		}
	}
}

// close ends the session: the queues first (nothing more is sent), then
// the peer connection (the browser sees it closed), then its share of the
// bounds goes back.
func (se *session) close(why string) {
	se.closeOnce.Do(func() {
		close(se.done)
		if se.cancel != nil {
			se.cancel()
		}
		for _, v := range se.vids {
			v.sub.Close()
			if v.soundSub != nil {
				v.soundSub.Close()
			}
		}
		se.srv.release(se) // the bounds count what is open, and this is closing
		if se.pc != nil {
			go func() {
				if err := se.pc.Close(); err != nil && !errors.Is(err, context.Canceled) {
					se.srv.log.Debug("webrtc: close", "user", se.user, "err", err)
				}
			}()
		}
		se.srv.log.Info("webrtc: session closed", "user", se.user, "cameras", se.tracks, "why", why)
	})
}

// drainRTCP reads what the browser reports (receiver reports, PLIs): read
// or not, it must not pile up.
func drainRTCP(s *pion.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := s.Read(buf); err != nil {
			return
		}
	}
}
