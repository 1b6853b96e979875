package webadmin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
)

// rtspProber tests a camera URL with an RTSP DESCRIBE.
type rtspProber struct{}

func (rtspProber) Probe(ctx context.Context, rawURL string) (ProbeResult, error) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("parse url: %w", err)
	}
	c := gortsplib.Client{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
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
			switch f := f.(type) {
			case *format.H264:
				return ProbeResult{Codec: "H264"}, nil
			case *format.H265:
				return ProbeResult{Codec: "H265"}, nil
			case *format.MJPEG:
				return ProbeResult{Codec: "MJPEG"}, nil
			default:
				_ = f
			}
		}
	}
	return ProbeResult{}, errors.New("no video track")
}
