package camsim

import (
	"fmt"
	"os"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Audio clip file names inside Config.ClipsDir (hwtest/clips/gen.sh makes
// them: a 10 s tone).
const (
	ClipToneAAC  = "tone-16k.aac" // AAC-LC in ADTS, 16 kHz mono
	ClipTonePCMA = "tone-8k.alaw" // G.711 A-law, 8 kHz mono, raw
	ClipTonePCMU = "tone-8k.ulaw" // G.711 μ-law, 8 kHz mono, raw
)

// AudioCodec is the sound a simulated camera sends.
type AudioCodec string

const (
	AudioAAC  AudioCodec = "aac"
	AudioPCMA AudioCodec = "pcma"
	AudioPCMU AudioCodec = "pcmu"
)

// g711Unit is how many G.711 samples go in one RTP packet (20 ms, as
// cameras send).
const g711Unit = 160

// AudioClip is a sound clip cut into RTP payloads, each unitSamples long.
type AudioClip struct {
	Format      format.Format
	Payloads    [][]byte
	UnitSamples int
	Rate        int
}

// unitDuration is the time one payload lasts.
func (c *AudioClip) unitDuration() time.Duration {
	return time.Duration(c.UnitSamples) * time.Second / time.Duration(c.Rate)
}

// LoadAudioClip reads an audio clip of the given codec and packetizes it.
func LoadAudioClip(path string, codec AudioCodec) (*AudioClip, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audio clip: %w", err)
	}
	switch codec {
	case AudioPCMA, AudioPCMU:
		pt := uint8(8) // the static RTP payload types: 8 PCMA, 0 PCMU
		if codec == AudioPCMU {
			pt = 0
		}
		c := &AudioClip{Format: &format.G711{PayloadTyp: pt, MULaw: codec == AudioPCMU, SampleRate: 8000, ChannelCount: 1}, UnitSamples: g711Unit, Rate: 8000}
		for len(b) >= g711Unit {
			c.Payloads = append(c.Payloads, b[:g711Unit:g711Unit])
			b = b[g711Unit:]
		}
		if len(c.Payloads) == 0 {
			return nil, fmt.Errorf("audio clip %s: empty", path)
		}
		return c, nil
	case AudioAAC:
		var pkts mpeg4audio.ADTSPackets
		if err := pkts.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("audio clip %s: %w", path, err)
		}
		if len(pkts) == 0 {
			return nil, fmt.Errorf("audio clip %s: no AAC frames", path)
		}
		f := &format.MPEG4Audio{
			PayloadTyp: 97,
			Config: &mpeg4audio.AudioSpecificConfig{
				Type: pkts[0].Type, SampleRate: pkts[0].SampleRate, ChannelCount: pkts[0].ChannelCount,
			},
			SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		}
		enc, err := f.CreateEncoder()
		if err != nil {
			return nil, fmt.Errorf("audio clip %s: %w", path, err)
		}
		c := &AudioClip{Format: f, UnitSamples: 1024, Rate: pkts[0].SampleRate}
		for _, p := range pkts {
			rtps, err := enc.Encode([][]byte{p.AU})
			if err != nil || len(rtps) != 1 {
				return nil, fmt.Errorf("audio clip %s: an AAC frame of %d bytes does not fit one packet", path, len(p.AU))
			}
			c.Payloads = append(c.Payloads, rtps[0].Payload)
		}
		return c, nil
	}
	return nil, fmt.Errorf("audio codec %q (want aac, pcma or pcmu)", codec)
}

// AudioClipFile is the clip file of an audio codec.
func AudioClipFile(codec AudioCodec) string {
	switch codec {
	case AudioAAC:
		return ClipToneAAC
	case AudioPCMA:
		return ClipTonePCMA
	case AudioPCMU:
		return ClipTonePCMU
	}
	return ""
}
