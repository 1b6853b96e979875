package webrtc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/webrtc/webrtctest"
)

// camera plays a clip into a live hub's feed in real time (25 fps), as
// the ingest would, until the test ends.
func camera(t *testing.T, hub *live.Hub, name, clip string, codec media.Codec) *recordtest.Clip {
	t.Helper()
	c := recordtest.LoadClip(t, clip)
	f := hub.Feed(name)
	st := c.Stream
	st.Camera, st.Codec, st.Epoch = name, codec, time.Now()
	if err := f.StreamStarted(st); err != nil && codec == media.H264 {
		t.Fatal(err)
	}
	every(t, 40*time.Millisecond, func(i int) {
		au := c.AUs[i%len(c.AUs)]
		au.DTS = time.Duration(i) * 40 * time.Millisecond
		au.PTS = au.DTS
		f.WriteAccessUnit(&au)
	})
	return c
}

// every calls fn(0), fn(1), ... one period apart until the test ends.
func every(t *testing.T, period time.Duration, fn func(i int)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for i := 0; ; i++ {
			fn(i)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func newServer(t *testing.T, hub *live.Hub, cfg Config) *Server {
	t.Helper()
	cfg.Address, cfg.Source = "127.0.0.1:0", hub
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLiveOverWebRTC(t *testing.T) {
	hub := live.NewHub()
	c1 := camera(t, hub, "cam1", "moving-720p.h264", media.H264)
	camera(t, hub, "cam2", "moving-360p.h264", media.H264)
	srv := newServer(t, hub, Config{})
	time.Sleep(1500 * time.Millisecond) // a GOP under way: the viewer catches up
	v := webrtctest.NewViewer(t, 2)
	answer, err := srv.Answer(context.Background(), Request{User: "canbo", Cameras: []string{"cam1", "cam2"}, Offer: v.Offer})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "typ host") || strings.Contains(answer, "typ srflx") || strings.Contains(answer, ".local") {
		t.Errorf("answer's candidates are not the box's host address alone:\n%s", answer)
	}
	if !strings.Contains(answer, "packetization-mode=1") {
		t.Errorf("answer without packetization-mode=1:\n%s", answer)
	}
	v.Accept(t, answer)
	v.WaitState(t, 5*time.Second, pion.PeerConnectionStateConnected)
	time.Sleep(2 * time.Second)
	for i, cam := range []string{"cam1", "cam2"} {
		pics := v.Pictures(i)
		if len(pics) < 40 {
			t.Fatalf("%s: %d pictures in 2 s", cam, len(pics))
		}
		first := pics[0]
		types := map[int]bool{}
		for _, n := range first.NALUs {
			types[h264.NALType(n)] = true
		}
		if !types[h264.NALSPS] || !types[h264.NALPPS] || !types[h264.NALIDRSlice] {
			t.Errorf("%s: first picture has NAL types %v, want SPS, PPS and IDR", cam, types)
		}
		// The RTP timestamps are the pictures' box times: the newest is
		// within a fraction of a second of now.
		last := pics[len(pics)-1]
		if lag := last.At.Sub(TimeOfRTP(last.TS, last.At)); lag < 0 || lag > 500*time.Millisecond {
			t.Errorf("%s: picture's RTP time is %v behind its arrival", cam, lag)
		}
		// Catch-up: the viewer joined ~1.5 s into the GOP; those pictures
		// came at once, so the first picture's RTP time is close to its
		// successors', not 1.5 s before.
		if d := pics[10].TS - pics[0].TS; d > 90*500 {
			t.Errorf("%s: catch-up pictures span %d ticks", cam, d)
		}
	}
	// Loopback under load may drop or reorder a few packets (the
	// browser's jitter buffer copes): a few, not many.
	if g := v.Gaps[0] + v.Gaps[1]; g > 20 {
		t.Errorf("%d packets lost or out of order", g)
	}
	// The bytes are the camera's: every slice of cam1 is one of the clip's.
	slices := map[string]bool{}
	for _, au := range c1.AUs {
		for _, n := range au.NALUs {
			if ty := h264.NALType(n); ty == h264.NALSlice || ty == h264.NALIDRSlice {
				slices[string(n)] = true
			}
		}
	}
	n := 0
	for _, p := range v.Pictures(0) {
		if p.Torn {
			continue
		}
		for _, nal := range p.NALUs {
			if ty := h264.NALType(nal); ty == h264.NALSlice || ty == h264.NALIDRSlice {
				n++
				if !slices[string(nal)] {
					t.Fatalf("a slice of %d bytes is not the camera's", len(nal))
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no slices")
	}
	if srv.Sessions() != 1 {
		t.Errorf("%d sessions, want 1", srv.Sessions())
	}
}

// A session ends with its login: within a second the box has closed it
// and the browser sees its connection closed.
func TestSessionEndsWithLogin(t *testing.T) {
	hub := live.NewHub()
	camera(t, hub, "cam1", "moving-360p.h264", media.H264)
	srv := newServer(t, hub, Config{})
	v := webrtctest.NewViewer(t, 1)
	login := make(chan struct{})
	answer, err := srv.Answer(context.Background(), Request{User: "hoa", Cameras: []string{"cam1"}, Sub: true, Offer: v.Offer, Done: login})
	if err != nil {
		t.Fatal(err)
	}
	v.Accept(t, answer)
	v.WaitState(t, 5*time.Second, pion.PeerConnectionStateConnected)
	deadline := time.Now().Add(5 * time.Second)
	for len(v.Pictures(0)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(v.Pictures(0)) == 0 {
		t.Fatal("no pictures")
	}
	ended := time.Now()
	close(login)
	v.WaitState(t, time.Second, pion.PeerConnectionStateClosed, pion.PeerConnectionStateFailed, pion.PeerConnectionStateDisconnected)
	took := time.Since(ended)
	for srv.Sessions() != 0 {
		if time.Since(ended) > time.Second {
			t.Fatalf("%d sessions 1 s after the login ended", srv.Sessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
	n := len(v.Pictures(0))
	time.Sleep(300 * time.Millisecond)
	if m := len(v.Pictures(0)); m != n {
		t.Errorf("%d pictures after the session ended", m-n)
	}
	t.Logf("browser saw the session closed %v after the login ended", took)
}

func TestBounds(t *testing.T) {
	hub := live.NewHub()
	camera(t, hub, "cam1", "moving-360p.h264", media.H264)
	srv := newServer(t, hub, Config{MaxSessions: 3, MaxSessionsOfUser: 2, MaxTracks: 100, ConnectTimeout: 700 * time.Millisecond})
	offer := webrtctest.NewViewer(t, 1).Offer
	ask := func(user string) error {
		_, err := srv.Answer(context.Background(), Request{User: user, Cameras: []string{"cam1"}, Offer: offer})
		return err
	}
	for _, tc := range []struct {
		user string
		busy bool
	}{{"a", false}, {"a", false}, {"a", true}, {"b", false}, {"c", true}} {
		if err := ask(tc.user); errors.Is(err, ErrBusy) != tc.busy || (err != nil && !tc.busy) {
			t.Errorf("user %s: err %v, want busy %v", tc.user, err, tc.busy)
		}
	}
	// Never connected: each closes after ConnectTimeout and gives its place back.
	deadline := time.Now().Add(3 * time.Second)
	for srv.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.Sessions(); n != 0 {
		t.Fatalf("%d sessions after their connect timeout", n)
	}
	if err := ask("c"); err != nil {
		t.Errorf("after the timeouts: %v", err)
	}
	// Tracks: 33 cameras in one session is refused outright, and so are
	// more tracks than the total.
	small := newServer(t, hub, Config{MaxTracks: 2})
	if _, err := small.Answer(context.Background(), Request{User: "a", Cameras: []string{"cam1", "cam1", "cam1"}, Offer: offer}); !errors.Is(err, ErrBusy) {
		t.Errorf("3 tracks over a bound of 2: %v", err)
	}
	if _, err := small.Answer(context.Background(), Request{User: "a", Cameras: make([]string, 33), Offer: offer}); !errors.Is(err, ErrBadOffer) {
		t.Errorf("33 cameras: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	hub := live.NewHub()
	camera(t, hub, "cam1", "moving-360p.h264", media.H264)
	camera(t, hub, "hevc", "moving-720p.hevc", media.H265)
	srv := newServer(t, hub, Config{})
	time.Sleep(300 * time.Millisecond)
	one := webrtctest.NewViewer(t, 1).Offer
	for _, tc := range []struct {
		name  string
		cams  []string
		offer string
		want  error
	}{
		{"garbage offer", []string{"cam1"}, "v=0 garbage", ErrBadOffer},
		{"empty offer", []string{"cam1"}, "", ErrBadOffer},
		{"two cameras, one m-line", []string{"cam1", "cam1"}, one, ErrBadOffer},
		{"H.265 camera", []string{"hevc"}, one, ErrUnsupported},
		{"unknown camera", []string{"nocam"}, one, live.ErrUnknownCamera},
		{"huge offer", []string{"cam1"}, strings.Repeat("a", 70<<10), ErrBadOffer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := srv.Answer(context.Background(), Request{User: "a", Cameras: tc.cams, Offer: tc.offer}); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("%d sessions left by refused offers", n)
	}
}

func TestRTPTime(t *testing.T) {
	now := time.Now()
	for _, back := range []time.Duration{0, 40 * time.Millisecond, time.Hour, 13 * time.Hour} {
		at := now.Add(-back)
		if got := TimeOfRTP(RTPTime(at), now); got.Sub(at).Abs() > time.Millisecond {
			t.Errorf("%v ago: got %v, want %v", back, got, at)
		}
	}
}

// FuzzPicture: a fragment from the hub is well-formed, but the cutter
// must not panic on any bytes.
func FuzzPicture(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 'm', 'o', 'o', 'f'}, 4)
	f.Add(bytes.Repeat([]byte{0xff}, 40), 2)
	f.Fuzz(func(t *testing.T, b []byte, ls int) {
		v := &videoTrack{lenSize: ls}
		v.picture(b)
	})
}

// FuzzAnswer: a browser's offer is outside input; a bad one is refused
// with an error (never a panic) and leaves no session open.
func FuzzAnswer(f *testing.F) {
	hub := live.NewHub()
	hub.Feed("cam1")
	srv, err := New(Config{Address: "127.0.0.1:0", Source: hub, ConnectTimeout: 50 * time.Millisecond, MaxSessionsOfUser: 1000, MaxSessions: 1000, MaxTracks: 1000})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	offer := webrtctest.NewViewer(f, 1).Offer
	f.Add(offer)
	f.Add(strings.Replace(offer, "m=video", "m=audio", 1))
	f.Add(strings.Replace(offer, "a=recvonly", "a=sendonly", 1))
	f.Add(strings.ReplaceAll(offer, "H264", "VP8"))
	f.Add(offer[:len(offer)/2])
	f.Add("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		before := srv.Sessions() // accepted ones close after ConnectTimeout
		_, err := srv.Answer(context.Background(), Request{User: "a", Cameras: []string{"cam1"}, Offer: sdp})
		if err != nil && srv.Sessions() > before {
			t.Errorf("a refused offer left a session (%d, %d before)", srv.Sessions(), before)
		}
	})
}

// TestWallOfferSize: a 16-camera wall's offer as large as Chromium makes
// it when it names all its codecs (about 5 KB an m-line, 80 KB in all) is
// answered; it was refused over a fixed 64 KB bound, and the wall fell
// back to MSE.
func TestWallOfferSize(t *testing.T) {
	hub := live.NewHub()
	camera(t, hub, "cam1", "moving-360p.h264", media.H264)
	srv := newServer(t, hub, Config{})
	pad := strings.Repeat("a=x-codec-line:"+strings.Repeat("x", 85)+"\r\n", 10) // with pion's own codecs, ~5 KB an m-line
	parts := strings.Split(webrtctest.NewViewer(t, 16).Offer, "\r\nm=")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.TrimSuffix(parts[i], "\r\n") + "\r\n" + strings.TrimSuffix(pad, "\r\n")
	}
	offer := strings.Join(parts, "\r\nm=") + "\r\n"
	if len(offer) < 72<<10 || len(offer) > 100<<10 {
		t.Fatalf("offer of %d bytes, want a Chromium-sized one (about 80 KB)", len(offer))
	}
	cams := make([]string, 16)
	for i := range cams {
		cams[i] = "cam1"
	}
	if _, err := srv.Answer(context.Background(), Request{User: "a", Cameras: cams, Offer: offer}); err != nil {
		t.Fatalf("offer of %d bytes: %v", len(offer), err)
	}
}
