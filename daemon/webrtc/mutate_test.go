package webrtc

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/webrtc/webrtctest"
)

// TestMutatedOffers answers 300 damaged copies of a real offer (bytes
// changed, cut out, lines added): each is answered or refused at once,
// and a refused one leaves no session.
func TestMutatedOffers(t *testing.T) {
	hub := live.NewHub()
	hub.Feed("cam1")
	srv, err := New(Config{Address: "127.0.0.1:0", Source: hub, ConnectTimeout: 50 * time.Millisecond, MaxSessionsOfUser: 1000, MaxSessions: 1000, MaxTracks: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	offer := webrtctest.NewViewer(t, 1).Offer
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		b := []byte(offer)
		for k := 0; k < 1+r.IntN(4); k++ {
			switch r.IntN(3) {
			case 0:
				b[r.IntN(len(b))] = byte(r.IntN(256))
			case 1:
				j := r.IntN(len(b))
				b = append(b[:j], b[min(len(b), j+r.IntN(40)):]...)
			case 2:
				j := r.IntN(len(b))
				b = append(b[:j], append([]byte("\r\na=x\r\n"), b[j:]...)...)
			}
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				t.Errorf("hang on input %d:\n%q", i, b)
			}
		}()
		before := srv.Sessions()
		_, err := srv.Answer(context.Background(), Request{User: "a", Cameras: []string{"cam1"}, Offer: string(b)})
		close(done)
		if err != nil && srv.Sessions() > before {
			t.Errorf("input %d refused (%v) but left a session", i, err)
		}
	}
}
