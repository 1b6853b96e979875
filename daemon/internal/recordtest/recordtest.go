// Package recordtest helps the recorder's and the store's tests: it splits
// Annex-B clips into access units as the ingest would deliver them, and asks
// ffprobe/ffmpeg (the independent judges) about the files written.
package recordtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/h265"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/hwtest/testenv"
)

// Clip is an elementary stream cut into access units.
type Clip struct {
	Stream media.Stream // parameter sets from the first key frame
	AUs    []media.AccessUnit
	FPS    int
}

// Duration is the clip's length at its frame rate.
func (c *Clip) Duration() time.Duration {
	return time.Duration(len(c.AUs)) * time.Second / time.Duration(c.FPS)
}

// ParseClip cuts an Annex-B H.264 or H.265 stream without B-frames into
// access units (h264.AccessUnits, h265.AccessUnits) at fps,
// DTS = PTS = n/fps.
func ParseClip(codec media.Codec, data []byte, fps int) (*Clip, error) {
	c := &Clip{Stream: media.Stream{Codec: codec}, FPS: fps}
	first := func(dst *[]byte, n []byte) {
		if *dst == nil {
			*dst = n
		}
	}
	each := func(au [][]byte) bool {
		var nalus [][]byte
		key := false
		for _, n := range au {
			if len(n) < 2 {
				continue
			}
			nalus = append(nalus, n)
			if codec == media.H265 {
				switch t := h265.NALType(n); {
				case h265.IsKey(t):
					key = true
				case t == h265.NALVPS:
					first(&c.Stream.VPS, n)
				case t == h265.NALSPS:
					first(&c.Stream.SPS, n)
				case t == h265.NALPPS:
					first(&c.Stream.PPS, n)
				}
				continue
			}
			switch h264.NALType(n) {
			case h264.NALIDRSlice:
				key = true
			case h264.NALSPS:
				first(&c.Stream.SPS, n)
			case h264.NALPPS:
				first(&c.Stream.PPS, n)
			}
		}
		if len(nalus) > 0 {
			d := time.Duration(len(c.AUs)) * time.Second / time.Duration(fps)
			c.AUs = append(c.AUs, media.AccessUnit{DTS: d, PTS: d, Key: key, NALUs: nalus})
		}
		return true
	}
	switch codec {
	case media.H264:
		h264.AccessUnits(data, each)
	case media.H265:
		h265.AccessUnits(data, each)
	default:
		return nil, fmt.Errorf("codec %v", codec)
	}
	if len(c.AUs) == 0 || !c.AUs[0].Key {
		return nil, fmt.Errorf("clip does not start with a key frame")
	}
	return c, nil
}

// LoadClip reads out/clips/NAME (made by `make clips`), skipping the test
// (failing in CI) when it is missing.
func LoadClip(t testing.TB, name string) *Clip {
	t.Helper()
	p := testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "clips", name), "make clips")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	codec := media.H264
	if strings.HasSuffix(name, ".hevc") {
		codec = media.H265
	}
	c, err := ParseClip(codec, data, 25)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// Probe is what ffprobe says about a file's video stream.
type Probe struct {
	Frames   int
	Duration time.Duration // of the container (format)
	Codec    string
	Width    int
	Height   int
	// Errors is what ffprobe printed besides the fields: decode errors.
	Errors string
}

// FFprobe counts the frames of path (decoding them) and reads its duration.
func FFprobe(t testing.TB, path string) Probe {
	t.Helper()
	bin := testenv.LookTool(t, "ffprobe", "ffmpeg")
	out, err := exec.Command(bin, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,codec_name,width,height:format=duration",
		"-of", "default=noprint_wrappers=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	var p Probe
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			if strings.TrimSpace(line) != "" {
				p.Errors += line + "\n"
			}
			continue
		}
		switch k {
		case "nb_read_frames":
			p.Frames, _ = strconv.Atoi(v)
		case "duration":
			f, _ := strconv.ParseFloat(v, 64)
			p.Duration = time.Duration(f * float64(time.Second))
		case "codec_name":
			p.Codec = v
		case "width":
			p.Width, _ = strconv.Atoi(v)
		case "height":
			p.Height, _ = strconv.Atoi(v)
		}
	}
	return p
}

// FFmpegErrors decodes path fully and returns what ffmpeg prints at level
// error (empty for a clean file).
func FFmpegErrors(t testing.TB, path string) string {
	t.Helper()
	bin := testenv.LookTool(t, "ffmpeg", "ffmpeg")
	out, err := exec.Command(bin, "-nostdin", "-v", "error", "-threads", "1", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("ffmpeg failed: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}
