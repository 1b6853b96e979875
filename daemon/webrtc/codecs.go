package webrtc

import (
	"fmt"
	"strings"

	pion "github.com/pion/webrtc/v4"

	"github.com/matthan/matthan/daemon/media"
)

// h264Profiles are the H.264 profile-level-ids the box answers with, all
// in packetization mode 1 (FU-A: a key frame is larger than a packet).
// The track names the camera's own profile; a browser that does not offer
// it gets the nearest it offers (browsers decode every profile a camera
// sends; Safari offers 42e01f and 640c1f).
var h264Profiles = []string{"42e01f", "42001f", "4d001f", "640c1f", "64001f", "640032"}

// playoutDelayURI names the RTP header extension that tells the browser
// how long to hold pictures before showing them.
const playoutDelayURI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

// fmtpH264 is the fmtp line of profile (6 hex digits).
func fmtpH264(profile string) string {
	return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile
}

// mediaEngine registers what the box sends: H.264 without transcoding
// (and G.711, which cameras send and browsers play as they are).
func mediaEngine() (*pion.MediaEngine, error) {
	me := &pion.MediaEngine{}
	for i, p := range h264Profiles {
		c := pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtpH264(p)},
			PayloadType:        pion.PayloadType(102 + 2*i),
		}
		if err := me.RegisterCodec(c, pion.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("webrtc: register H.264 %s: %w", p, err)
		}
	}
	// Playout delay 0: the browser shows each picture once decoded, no
	// jitter buffer in front (a LAN has little jitter; latency wins).
	if err := me.RegisterHeaderExtension(pion.RTPHeaderExtensionCapability{URI: playoutDelayURI}, pion.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("webrtc: register playout delay: %w", err)
	}
	for _, c := range []pion.RTPCodecParameters{
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
	} {
		if err := me.RegisterCodec(c, pion.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("webrtc: register %s: %w", c.MimeType, err)
		}
	}
	return me, nil
}

// profileOf is the profile-level-id of an RFC 6381 avc1 codec string
// ("avc1.4d401f" → "4d401f"); "" if it is not H.264.
func profileOf(codec string) string {
	p, ok := strings.CutPrefix(codec, "avc1.")
	if !ok || len(p) != 6 {
		return ""
	}
	for _, c := range p {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return ""
		}
	}
	return strings.ToLower(p)
}

// isH264 reports whether an RFC 6381 codec string is H.264.
func isH264(codec string) bool {
	return strings.HasPrefix(codec, "avc1.") || strings.HasPrefix(codec, "avc3.")
}

// g711 is the WebRTC MIME type of a camera's sound if it can go as it is
// (G.711 at 8 kHz, mono: what browsers play), "" if not (AAC needs
// transcoding to Opus, which the box does not do).
func g711(a *media.Audio) string {
	if a == nil || a.SampleRate != 8000 || a.Channels > 1 {
		return ""
	}
	switch a.Codec {
	case media.PCMA:
		return pion.MimeTypePCMA
	case media.PCMU:
		return pion.MimeTypePCMU
	}
	return ""
}
