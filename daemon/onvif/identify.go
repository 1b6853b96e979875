package onvif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/camnet"
)

// Info is what the box learns of a camera.
type Info struct {
	DeviceInformation
	// ClockOffset is the camera's clock minus the box's.
	ClockOffset time.Duration
	// MainURI and SubURI are RTSP addresses without credentials (SubURI
	// empty when the camera has one profile).
	MainURI, SubURI string
	// Main and Sub are the profiles they come from.
	Main, Sub Profile
}

// Identify asks a camera everything the box needs, in order, stopping at
// the first refused login: GetSystemDateAndTime (no login, clock offset),
// GetCapabilities/GetServices, GetDeviceInformation, GetProfiles,
// GetStreamUri for the main and sub profiles. An error wrapping ErrNoONVIF
// means fall back to KnownStreams.
func (c *Client) Identify(ctx context.Context) (Info, error) {
	var in Info
	if _, err := c.SystemDateAndTime(ctx); err != nil && !errors.Is(err, ErrNeedCredentials) {
		return in, fmt.Errorf("onvif: clock: %w", err)
	} // a clock behind a login: the token carries the box's time (offset 0)
	in.ClockOffset, _ = c.Offset()
	if _, err := c.Services(ctx); err != nil {
		return in, fmt.Errorf("onvif: services: %w", err)
	}
	di, err := c.DeviceInformation(ctx)
	if isFinal(err) {
		return in, fmt.Errorf("onvif: device information: %w", err)
	}
	in.DeviceInformation = di // optional: some cameras refuse it to ONVIF users
	ps, err := c.Profiles(ctx)
	if err != nil {
		return in, fmt.Errorf("onvif: profiles: %w", err)
	}
	main, sub, hasSub := MainAndSub(ps)
	in.Main = main
	if in.MainURI, err = c.StreamURI(ctx, main.Token); err != nil {
		return in, fmt.Errorf("onvif: main stream address: %w", err)
	}
	if hasSub {
		in.Sub = sub
		if in.SubURI, err = c.StreamURI(ctx, sub.Token); err != nil {
			if isFinal(err) {
				return in, fmt.Errorf("onvif: sub stream address: %w", err)
			}
			in.SubURI, in.Sub = "", Profile{} // a broken sub profile: record main, live from main
		}
	}
	return in, nil
}

// Makers whose RTSP paths are known (for cameras with ONVIF off).
const (
	Hikvision = "hikvision"
	Dahua     = "dahua" // also Imou and KBVision (Dahua OEM)
	Ezviz     = "ezviz"
)

// MakerFamily maps a maker name (as GetDeviceInformation or a person
// writes it) to a family with known paths, or "".
func MakerFamily(maker string) string {
	m := strings.ToLower(maker)
	switch {
	case strings.Contains(m, "hikvision") || strings.Contains(m, "hik"):
		return Hikvision
	case strings.Contains(m, "ezviz"):
		return Ezviz
	case strings.Contains(m, "dahua") || strings.Contains(m, "imou") || strings.Contains(m, "kbvision") || strings.Contains(m, "kb vision"):
		return Dahua
	}
	return ""
}

// ErrUnknownMaker: no known RTSP paths for the maker.
var ErrUnknownMaker = errors.New("no known stream addresses for this maker: enter the camera's RTSP address")

// KnownStreams are the main and sub RTSP addresses a maker's cameras
// serve on host (no port: 554), without credentials.
func KnownStreams(maker, host string) (main, sub string, err error) {
	var mp, sp string
	switch MakerFamily(maker) {
	case Hikvision:
		mp, sp = "/Streaming/Channels/101", "/Streaming/Channels/102"
	case Dahua:
		mp, sp = "/cam/realmonitor?channel=1&subtype=0", "/cam/realmonitor?channel=1&subtype=1"
	case Ezviz:
		mp, sp = "/h264/ch1/main/av_stream", "/h264/ch1/sub/av_stream"
	default:
		return "", "", ErrUnknownMaker
	}
	h := host
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		h = net.JoinHostPort(h, "554")
	}
	base := "rtsp://" + h
	return base + mp, base + sp, nil
}

// WithCredentials puts user and password into an RTSP address.
func WithCredentials(rtsp, user, password string) string {
	u, err := url.Parse(rtsp)
	if err != nil || user == "" {
		return rtsp
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// Problem is the state the page shows for err (a message key suffix):
// "wrong_password", "need_password", "timeout", "unreachable",
// "not_allowed", "too_large", "bad_reply", "no_onvif", or "error".
func Problem(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrWrongPassword):
		return "wrong_password"
	case errors.Is(err, ErrNeedCredentials):
		return "need_password"
	case errors.Is(err, ErrNoONVIF):
		return "no_onvif"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrUnreachable):
		return "unreachable"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrBadReply):
		return "bad_reply"
	}
	if errors.Is(err, camnet.ErrNotAllowed) {
		return "not_allowed"
	}
	return "error"
}

// SubFromMain is the sub stream of a main stream address in one of the
// known layouts (Hikvision channel 101 → 102, Dahua/Imou/KBVision
// subtype=0 → 1, Ezviz/old Hikvision main → sub), keeping host, port and
// credentials; ok is false for any other address. It asks nothing of the
// camera.
func SubFromMain(main string) (sub string, ok bool) {
	u, err := url.Parse(main)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") {
		return "", false
	}
	p := strings.ToLower(u.Path)
	switch {
	case strings.HasPrefix(p, "/streaming/channels/") && strings.HasSuffix(p, "01"):
		u.Path = u.Path[:len(u.Path)-2] + "02"
	case p == "/cam/realmonitor":
		q := u.Query()
		if q.Get("subtype") != "0" {
			return "", false
		}
		// Keep the query's order: cameras compare it as written.
		u.RawQuery = strings.Replace(u.RawQuery, "subtype=0", "subtype=1", 1)
	case strings.HasSuffix(p, "/main/av_stream"):
		u.Path = u.Path[:len(u.Path)-len("/main/av_stream")] + "/sub/av_stream"
	default:
		return "", false
	}
	return u.String(), true
}
