package ingest

import (
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/pion/rtp"

	"github.com/matthan/matthan/daemon/media"
)

// pickAudio finds the camera's sound among the SDP's media: G.711 (PCMA,
// PCMU) or AAC sent as MPEG4-GENERIC. Other codecs (AAC in LATM, G.726,
// Opus, ...) are not taken: nil.
func pickAudio(desc *description.Session) (*description.Media, format.Format, *media.Audio) {
	var g711 *format.G711
	if m := desc.FindFormat(&g711); m != nil && g711.SampleRate > 0 && g711.ChannelCount > 0 {
		codec := media.PCMA
		if g711.MULaw {
			codec = media.PCMU
		}
		return m, g711, &media.Audio{Codec: codec, SampleRate: g711.SampleRate, Channels: g711.ChannelCount}
	}
	var aac *format.MPEG4Audio
	if m := desc.FindFormat(&aac); m != nil && aac.Config != nil && aac.SizeLength > 0 {
		conf, err := aac.Config.Marshal()
		if err != nil || aac.Config.SampleRate <= 0 || aac.Config.ChannelCount <= 0 {
			return nil, nil, nil
		}
		return m, aac, &media.Audio{Codec: media.AAC, SampleRate: aac.Config.SampleRate, Channels: aac.Config.ChannelCount, Config: conf}
	}
	return nil, nil, nil
}

// audioDepacketizer turns the audio track's RTP packets into units: a
// G.711 packet's payload is one unit; an AAC packet carries one or more
// access units (RFC 3640), 1024 samples apart.
type audioDepacketizer struct {
	aac *rtpmpeg4audio.Decoder // nil for G.711
}

func newAudioDepacketizer(f format.Format) (*audioDepacketizer, error) {
	switch f := f.(type) {
	case *format.G711:
		return &audioDepacketizer{}, nil
	case *format.MPEG4Audio:
		d, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("AAC depacketizer: %w", err)
		}
		return &audioDepacketizer{aac: d}, nil
	}
	return nil, fmt.Errorf("audio format %T", f)
}

// packet calls emit with each unit of pkt and its RTP timestamp. Broken
// packets are dropped.
func (d *audioDepacketizer) packet(pkt *rtp.Packet, emit func(ts uint32, data []byte)) {
	if d.aac == nil {
		emit(pkt.Timestamp, pkt.Payload)
		return
	}
	aus, err := d.aac.Decode(pkt)
	if err != nil {
		return
	}
	for i, au := range aus {
		emit(pkt.Timestamp+uint32(i*1024), au)
	}
}
