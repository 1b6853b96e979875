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
// access units at fps, DTS = PTS = n/fps.
func ParseClip(codec media.Codec, data []byte, fps int) (*Clip, error) {
	c := &Clip{Stream: media.Stream{Codec: codec}, FPS: fps}
	var cur [][]byte
	var key, vcl bool
	flush := func() {
		if len(cur) == 0 {
			return
		}
		n := time.Duration(len(c.AUs))
		c.AUs = append(c.AUs, media.AccessUnit{DTS: n * time.Second / time.Duration(fps), PTS: n * time.Second / time.Duration(fps), Key: key, NALUs: cur})
		cur, key, vcl = nil, false, false
	}
	for _, n := range h264.NALUnits(data) {
		if len(n) < 2 {
			continue
		}
		var isVCL, firstSlice, isKey, isParamOrPrefix bool
		switch codec {
		case media.H264:
			t := n[0] & 0x1f
			isVCL = t >= 1 && t <= 5
			isKey = t == 5
			firstSlice = isVCL && n[1]&0x80 != 0
			isParamOrPrefix = t == 6 || t == 7 || t == 8 || t == 9
			switch t {
			case 7:
				if c.Stream.SPS == nil {
					c.Stream.SPS = n
				}
			case 8:
				if c.Stream.PPS == nil {
					c.Stream.PPS = n
				}
			}
		case media.H265:
			if len(n) < 3 {
				continue
			}
			t := (n[0] >> 1) & 0x3f
			isVCL = t <= 31
			isKey = t >= 16 && t <= 23
			firstSlice = isVCL && n[2]&0x80 != 0
			isParamOrPrefix = t >= 32 && t <= 35 || t == 39
			switch t {
			case 32:
				if c.Stream.VPS == nil {
					c.Stream.VPS = n
				}
			case 33:
				if c.Stream.SPS == nil {
					c.Stream.SPS = n
				}
			case 34:
				if c.Stream.PPS == nil {
					c.Stream.PPS = n
				}
			}
		default:
			return nil, fmt.Errorf("codec %v", codec)
		}
		if vcl && (isParamOrPrefix || firstSlice) {
			flush()
		}
		cur = append(cur, n)
		if isVCL {
			vcl = true
			key = key || isKey
		}
	}
	flush()
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
