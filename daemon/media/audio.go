package media

import "time"

// AudioCodec is the codec of a camera's audio track.
type AudioCodec int

const (
	// AAC is MPEG-4 AAC (RTP MPEG4-GENERIC, RFC 3640): one access unit of
	// 1024 samples per AudioUnit, recorded as it comes.
	AAC AudioCodec = iota + 1
	// PCMA is G.711 A-law: one byte per sample and channel.
	PCMA
	// PCMU is G.711 μ-law.
	PCMU
)

func (c AudioCodec) String() string {
	switch c {
	case AAC:
		return "AAC"
	case PCMA:
		return "PCMA"
	case PCMU:
		return "PCMU"
	}
	return "unknown"
}

// Audio describes a stream's audio track (Stream.Audio; nil without one).
type Audio struct {
	Codec      AudioCodec
	SampleRate int // Hz
	Channels   int
	// Config is AAC's AudioSpecificConfig (ISO/IEC 14496-3), as the SDP
	// gives it.
	Config []byte
}

// Samples is the number of samples (per channel) in u.
func (a *Audio) Samples(u *AudioUnit) int {
	switch a.Codec {
	case AAC:
		return 1024
	case PCMA, PCMU:
		return len(u.Data) / max(a.Channels, 1)
	}
	return 0
}

// AudioUnit is one piece of a camera's sound: an AAC access unit or a run
// of G.711 samples, timed on the box clock like the pictures.
type AudioUnit struct {
	// PTS is the offset of its first sample from Stream.Epoch.
	PTS  time.Duration
	Data []byte
}

// AudioSink is a Sink that takes the stream's audio too. Calls come from
// the same goroutine as the Sink's, between StreamStarted and StreamEnded,
// only when Stream.Audio is set; WriteAudio may keep u only until it
// returns. The fan-out (daemon/stream) hands audio only to readers whose
// sink is an AudioSink.
type AudioSink interface {
	WriteAudio(u *AudioUnit) error
}
