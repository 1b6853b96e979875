package fmp4_test

import (
	"errors"
	"testing"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/record/recordtest"
)

// TestParseSPS: the one SPS path reads the camera clips' size and the
// codec string a browser wants.
func TestParseSPS(t *testing.T) {
	for _, tt := range []struct {
		clip, codec string
		w, h        int
	}{
		{"moving-720p.h264", "avc1.4d401f", 1280, 720},
		{"moving-360p.h264", "", 640, 360},
		{"moving-720p.hevc", "hvc1.1.6.L", 1280, 720},
	} {
		t.Run(tt.clip, func(t *testing.T) {
			s := recordtest.LoadClip(t, tt.clip).Stream
			info, err := fmp4.ParseSPS(s.Codec, s.SPS)
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != tt.w || info.Height != tt.h || len(info.Codec) < len(tt.codec) || info.Codec[:len(tt.codec)] != tt.codec {
				t.Errorf("got %dx%d %q, want %dx%d %q...", info.Width, info.Height, info.Codec, tt.w, tt.h, tt.codec)
			}
		})
	}
}

func TestParseSPSRejects(t *testing.T) {
	for _, tt := range []struct {
		name  string
		codec media.Codec
		sps   []byte
	}{
		{"H.264 empty", media.H264, nil},
		{"H.264 short", media.H264, []byte{0x67, 0x42}},
		{"H.264 garbage", media.H264, []byte{0x67, 0, 0, 0}},
		{"H.264 a PPS", media.H264, []byte{0x68, 0xce, 0x3c, 0x80}},
		{"H.265 empty", media.H265, nil},
		{"H.265 garbage", media.H265, []byte{0x42, 0x01, 0x01}},
		{"MJPEG", media.MJPEG, []byte{0xff, 0xd8}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if info, err := fmp4.ParseSPS(tt.codec, tt.sps); err == nil {
				t.Errorf("parsed: %+v", info)
			}
		})
	}
	if _, err := fmp4.ParseSPS(media.MJPEG, nil); !errors.Is(err, fmp4.ErrUnsupported) {
		t.Errorf("MJPEG: %v, want ErrUnsupported", err)
	}
}

// FuzzParseSPS: camera bytes never take the caller down, and a size read
// is positive.
func FuzzParseSPS(f *testing.F) {
	f.Add([]byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60}, false)
	f.Add([]byte{0x42, 0x01, 0x01, 0x01, 0x60, 0, 0, 3, 0, 0x90, 0, 0, 3, 0, 0, 3, 0, 0x5d, 0xa0, 2, 0x80, 0x80, 0x2d, 0x16}, true)
	f.Fuzz(func(t *testing.T, sps []byte, hevc bool) {
		codec := media.H264
		if hevc {
			codec = media.H265
		}
		info, err := fmp4.ParseSPS(codec, sps)
		if err == nil && (info.Width < 0 || info.Height < 0 || info.Codec == "") {
			t.Fatalf("parsed %+v", info)
		}
	})
}
