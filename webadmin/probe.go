package webadmin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/matthan/matthan/daemon/camnet"
)

// rtspProber tests a camera URL with an RTSP DESCRIBE, dialling only
// addresses its policy allows (the address it checked: see camnet.Dial).
type rtspProber struct{ policy camnet.Policy }

// errNoVideo: the camera answered without a video track.
var errNoVideo = errors.New("no video track")

// errMJPEG: the camera sends MJPEG only, which the box does not record.
var errMJPEG = errors.New("MJPEG video is not supported")

// errNoAnswer: nothing answered at the address.
var errNoAnswer = errors.New("no connection")

func (p rtspProber) Probe(ctx context.Context, rawURL string) (ProbeResult, error) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("parse url: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := gortsplib.Client{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		DialContext: func(dctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := p.policy.Dial(ctx, network, addr)
			if err != nil && !errors.Is(err, camnet.ErrNotAllowed) {
				err = fmt.Errorf("%w: %w", errNoAnswer, err)
			}
			return nc, err
		}}
	if err := c.Start(u.Scheme, u.Host); err != nil {
		return ProbeResult{}, fmt.Errorf("connect: %w", err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-done:
		}
	}()
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("describe: %w", err)
	}
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			switch f.(type) {
			case *format.H264:
				return ProbeResult{Codec: "H264"}, nil
			case *format.H265:
				return ProbeResult{Codec: "H265"}, nil
			case *format.MJPEG:
				// Old cameras that only send MJPEG: the box records and
				// analyses H.264/H.265 without transcoding (a transcode
				// costs ~18 % of a core per 720p camera), so it says so.
				return ProbeResult{}, errMJPEG
			}
		}
	}
	return ProbeResult{}, errNoVideo
}

// probeErrorKey is the message key for a failed connection test: a
// category, never the far end's words (a banner of some other service on
// the port must not come back through the page).
func probeErrorKey(err error) string {
	var bad liberrors.ErrClientBadStatusCode
	switch {
	case errors.Is(err, camnet.ErrNotAllowed):
		return "probe_not_allowed"
	case errors.Is(err, errNoAnswer):
		return "probe_no_answer"
	case errors.As(err, &bad) && (bad.Code == base.StatusUnauthorized || bad.Code == base.StatusForbidden):
		return "probe_auth"
	case errors.Is(err, errNoVideo):
		return "probe_no_video"
	case errors.Is(err, errMJPEG):
		return "probe_mjpeg"
	default:
		return "probe_not_rtsp"
	}
}
