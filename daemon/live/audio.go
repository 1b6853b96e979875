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
	// PTS is the offset of its first sample from the stream's epoch,
	// EpochMs (the box's clock, ms since 1970).
	PTS     time.Duration
	EpochMs int64
	Data    []byte
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
			fr = &AudioFrame{PTS: u.PTS, EpochMs: f.stream.Epoch.UnixMilli(), Data: append([]byte(nil), u.Data...)}
			break
		}
	}
	if fr != nil {
		f.broadcastLocked(Message{Audio: fr})
	}
	return nil
}

// SubscribeSound is a viewer of the camera's sound alone (Message.Audio,
// when the feed passes it on), beside pictures from another feed (a phone
// watching one camera's sub stream hears the main stream's sound).
func (h *Hub) SubscribeSound(camera string) (*Subscription, error) {
	f := h.known(camera)
	if f == nil {
		return nil, fmt.Errorf("live %s: %w", camera, ErrUnknownCamera)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &Subscription{C: make(chan Message, queueLen), feed: f, audio: true, soundOnly: true}
	f.subs[s] = struct{}{}
	return s, nil
}

// Sound is the camera's sound as the feed passes it on now (nil: none).
func (h *Hub) Sound(camera string) *media.Audio {
	f := h.known(camera)
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.start == nil {
		return nil
	}
	return f.liveAudio()
}

// known is camera's feed, nil if the hub never saw it.
func (h *Hub) known(camera string) *Feed {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cams[camera]
}
