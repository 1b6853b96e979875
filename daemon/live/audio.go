package live

import (
	"fmt"
	"time"

	"github.com/matthan/matthan/daemon/media"
)

// AudioFrame is a piece of a camera's sound as it came (an AAC access
// unit or a run of G.711 samples), for live viewers that play it as it is
// (WebRTC carries G.711 natively).
type AudioFrame struct {
	// PTS is the offset of its first sample from the stream's epoch.
	PTS  time.Duration
	Data []byte
}

var _ media.AudioSink = (*Feed)(nil)

// SetAudio says whether the feed passes the camera's sound on to the
// viewers that ask for it (the camera's sound switch; off: never).
func (f *Feed) SetAudio(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audio = on
	if f.start != nil {
		f.start.Audio = f.liveAudio()
	}
}

// liveAudio is the stream's audio when the feed passes it on.
func (f *Feed) liveAudio() *media.Audio {
	if !f.audio {
		return nil
	}
	return f.stream.Audio
}

// WriteAudio implements media.AudioSink: each viewer that asked for sound
// gets a copy (the unit is the caller's only until this returns).
func (f *Feed) WriteAudio(u *media.AudioUnit) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.audio || f.stream.Audio == nil || f.start == nil || len(u.Data) == 0 {
		return nil
	}
	var fr *AudioFrame
	for s := range f.subs {
		if s.audio && !s.skipping {
			fr = &AudioFrame{PTS: u.PTS, Data: append([]byte(nil), u.Data...)}
			break
		}
	}
	if fr != nil {
		f.broadcastLocked(Message{Audio: fr})
	}
	return nil
}

// SubscribeAudio is Subscribe for a viewer that also takes the camera's
// sound (Message.Audio), when the feed passes it on.
func (h *Hub) SubscribeAudio(camera string) (*Subscription, error) {
	h.mu.Lock()
	f, ok := h.cams[camera]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("live %s: %w", camera, ErrUnknownCamera)
	}
	s := f.subscribe()
	f.mu.Lock()
	s.audio = true
	f.mu.Unlock()
	return s, nil
}
