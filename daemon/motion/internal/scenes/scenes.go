// Package scenes makes labelled test scenes for the motion detectors with
// ffmpeg: a static noisy street with an object crossing it at several sizes
// and speeds, a person stopping and starting, dusk, a switch to infrared
// grey noise, rain, swaying foliage in a corner and a covered camera. Each
// clip is encoded like a camera (libx264 main profile, no B-frames, a key
// frame every 2 s, no scene-cut key frames, bitrate held) and its truth —
// when and where something moves, when the whole picture changes — is
// written beside it as JSON. Score compares a detector's events with it.
package scenes

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FPS of every scene.
const FPS = 25

// Object is a box that moves across the scene.
type Object struct {
	// W, H are the object's size as fractions of the picture's width, height.
	W, H float64
	// Y is the object's top as a fraction of the picture height.
	Y float64
	// Moves are the object's legs: from X0 to X1 (fractions of the width,
	// of the object's left edge) between T0 and T1 seconds. Between legs the
	// object stands still where the last leg left it; before the first and
	// after the last it is not in the picture.
	Moves []Move
}

// Move is one leg of an object's path.
type Move struct{ T0, T1, X0, X1 float64 }

// Scene is one labelled clip.
type Scene struct {
	Name     string  // file name without extension
	Family   string  // crossing, stopstart, dusk, irswitch, rain, foliage, covered
	Width    int     // pixels
	Height   int     // pixels
	Duration float64 // seconds
	Objects  []Object
	Dusk     bool    // brightness falls slowly over the whole clip
	IRAt     float64 // switch to grey infrared-like noise at this second (0: never)
	Rain     bool    // rain streaks over the whole clip
	Foliage  bool    // a bush sways in the top-left corner
	CoverAt  float64 // the lens is covered at this second (0: never)

	// Camera-made families (issue 15).
	KeyInt    int     // pictures per GOP (default 50)
	NoWeightP bool    // encode without weighted prediction (x264 weightp=0)
	Night     bool    // the whole clip is an infrared night picture (grey, dark, grainy)
	Insects   bool    // small bright specks flit close to the lens (IR LEDs light them)
	Headlight bool    // a car's headlights sweep the scene (Night)
	LightsOn  float64 // a room's light is switched on at this second (0: never); the clip starts dark
	LightsOff float64 // and off again at this second (0: never)
	DefocusAt float64 // the picture blurs over 2 s from this second, and stays blurred
	MovedAt   float64 // the camera turns: the picture shifts by 10 % at this second and stays
	// Grid is the picture size whose truth regions the scene reports when
	// it is the sub stream of a pair (0: its own size).
	MainWidth, MainHeight int
}

// Interval is a span of motion with the box it covered, in pixels.
type Interval struct {
	Start  float64 `json:"start"`
	End    float64 `json:"end"`
	Region [4]int  `json:"region"` // x0, y0, x1, y1 (exclusive)
}

// Global is a change of the whole picture.
type Global struct {
	Type   string  `json:"type"`             // "scene_change" or "tamper"
	Reason string  `json:"reason,omitempty"` // covered, defocused, moved; lights
	At     float64 `json:"at"`
}

// Truth is what a scene shows, written beside its clip as NAME.json.
type Truth struct {
	Name     string     `json:"name"`
	Family   string     `json:"family"`
	Clip     string     `json:"clip"`
	Width    int        `json:"width"`
	Height   int        `json:"height"`
	FPS      int        `json:"fps"`
	Duration float64    `json:"duration"`
	Motion   []Interval `json:"motion"`
	Global   []Global   `json:"global"`
	// KeyInt is the clip's GOP in pictures.
	KeyInt int `json:"keyint,omitempty"`
	// MainWidth, MainHeight: the clip is the sub stream of a pair and its
	// truth regions are in this main stream's pixels.
	MainWidth  int `json:"main_width,omitempty"`
	MainHeight int `json:"main_height,omitempty"`
}

// GOP is the scene's key-frame interval in pictures.
func (s Scene) GOP() int {
	if s.KeyInt > 0 {
		return s.KeyInt
	}
	return 50
}

// Truth computes the scene's truth: an object moves while on a leg and at
// least partly inside the picture.
func (s Scene) Truth() Truth {
	t := Truth{Name: s.Name, Family: s.Family, Clip: s.Name + ".h264", Width: s.Width, Height: s.Height, FPS: FPS, Duration: s.Duration,
		Motion: []Interval{}, Global: []Global{}, KeyInt: s.GOP(), MainWidth: s.MainWidth, MainHeight: s.MainHeight}
	W, H := s.Width, s.Height
	if s.MainWidth > 0 {
		W, H = s.MainWidth, s.MainHeight
	}
	for _, o := range s.Objects {
		w := o.W * float64(W)
		for _, m := range o.Moves {
			// Clip the leg to where the box overlaps the picture.
			x := func(tt float64) float64 { return (m.X0 + (m.X1-m.X0)*(tt-m.T0)/(m.T1-m.T0)) * float64(W) }
			in := func(tt float64) bool { xx := x(tt); return xx+w > 0 && xx < float64(W) }
			start, end := -1.0, -1.0
			for tt := m.T0; tt <= m.T1+1e-9; tt += 1.0 / FPS {
				if in(tt) {
					if start < 0 {
						start = tt
					}
					end = tt
				}
			}
			if start < 0 || end <= start {
				continue
			}
			x0, x1 := math.Min(x(start), x(end)), math.Max(x(start), x(end))+w
			t.Motion = append(t.Motion, Interval{Start: round3(start), End: round3(end),
				Region: [4]int{max(0, int(x0)), int(o.Y * float64(H)), min(W, int(x1)), int((o.Y + o.H) * float64(H))}})
		}
	}
	// The whole-picture changes the scene stages, in this order.
	for _, g := range []Global{
		{"scene_change", "lights", s.IRAt},
		{"scene_change", "lights", s.LightsOn},
		{"scene_change", "lights", s.LightsOff},
		{"tamper", "covered", s.CoverAt},
		{"tamper", "defocused", s.DefocusAt},
		{"tamper", "moved", s.MovedAt},
	} {
		if g.At > 0 {
			t.Global = append(t.Global, g)
		}
	}
	return t
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// Sizes and speeds of crossing objects.
var (
	small  = Object{W: 0.05, H: 0.16, Y: 0.55} // a person far off
	medium = Object{W: 0.10, H: 0.35, Y: 0.45} // a person near the gate
	large  = Object{W: 0.30, H: 0.30, Y: 0.55} // a car or a motorbike close by
	cross  = func(o Object, t0, secs float64) Object {
		o.Moves = []Move{{T0: t0, T1: t0 + secs, X0: -o.W, X1: 1}}
		return o
	}
)

// All lists every scene at one picture size.
func All(width, height int) []Scene {
	res := fmt.Sprintf("%dp", height)
	sc := func(name, fam string, dur float64) Scene {
		return Scene{Name: fam + "-" + name + "-" + res, Family: fam, Width: width, Height: height, Duration: dur}
	}
	var out []Scene
	for _, size := range []struct {
		name string
		o    Object
	}{{"small", small}, {"medium", medium}, {"large", large}} {
		for _, speed := range []struct {
			name string
			secs float64
		}{{"slow", 7}, {"fast", 1.6}} {
			s := sc(size.name+"-"+speed.name, "crossing", 8+speed.secs)
			s.Objects = []Object{cross(size.o, 5, speed.secs)}
			out = append(out, s)
		}
	}
	// A person walks in, stops five seconds, walks on.
	s := sc("person", "stopstart", 20)
	p := medium
	p.Moves = []Move{{T0: 4, T1: 7, X0: -p.W, X1: 0.35}, {T0: 12, T1: 15, X0: 0.35, X1: 1}}
	s.Objects = []Object{p}
	out = append(out, s)

	s = sc("fall", "dusk", 20)
	s.Dusk = true
	s.Objects = []Object{cross(medium, 11, 3)}
	out = append(out, s)

	s = sc("switch", "irswitch", 20)
	s.IRAt = 6
	s.Objects = []Object{cross(medium, 13, 3)}
	out = append(out, s)

	s = sc("shower", "rain", 16)
	s.Rain = true
	s.Objects = []Object{cross(medium, 8, 3)}
	out = append(out, s)

	s = sc("bush", "foliage", 18)
	s.Foliage = true
	f := medium
	f.Y = 0.55
	f.Moves = []Move{{T0: 10, T1: 13, X0: 0.35, X1: 1}} // enters mid-picture, away from the bush
	s.Objects = []Object{f}
	out = append(out, s)

	s = sc("hand", "covered", 18)
	s.CoverAt = 11
	s.Objects = []Object{cross(medium, 4, 3)}
	out = append(out, s)
	if height <= 360 { // generation time: the camera-made families at 360p only
		out = append(out, CameraMade(width, height)...)
	}
	return out
}

// CameraMade lists the families made the way cameras encode (issue 15):
// whole-picture changes exactly on a key frame, one picture before one and
// one after, with weighted prediction on (x264's default for main
// profile) and off; infrared night with insects by the lens; headlights
// sweeping at night; a room's light switched on and off; defocus; the
// camera turned. A key frame falls every 2 s (GOP 50).
func CameraMade(width, height int) []Scene {
	res := fmt.Sprintf("%dp", height)
	var out []Scene
	sc := func(name, fam string, dur float64) Scene {
		return Scene{Name: fam + "-" + name + "-" + res, Family: fam, Width: width, Height: height, Duration: dur}
	}
	// Key frames at 8 s and 10 s; the change at 10 s - 1 picture, 10 s,
	// 10 s + 1 picture.
	for _, when := range []struct {
		name string
		at   float64
	}{{"before", 10 - 1.0/FPS}, {"on", 10}, {"after", 10 + 1.0/FPS}} {
		for _, wp := range []struct {
			name string
			off  bool
		}{{"wp", false}, {"nowp", true}} {
			s := sc("cover-"+when.name+"-"+wp.name, "keyframe", 16)
			s.CoverAt, s.NoWeightP = when.at, wp.off
			out = append(out, s)
			s = sc("ir-"+when.name+"-"+wp.name, "keyframe", 16)
			s.IRAt, s.NoWeightP = when.at, wp.off
			out = append(out, s)
		}
	}
	s := sc("moths", "insects", 20)
	s.Night, s.Insects = true, true
	out = append(out, s)
	s = sc("car", "headlights", 16)
	s.Night, s.Headlight = true, true
	out = append(out, s)
	for _, wp := range []struct {
		name string
		off  bool
	}{{"wp", false}, {"nowp", true}} {
		s = sc("room-"+wp.name, "lights", 20)
		s.LightsOn, s.LightsOff, s.NoWeightP = 6.5, 13.3, wp.off
		out = append(out, s)
	}
	s = sc("blur", "defocus", 16)
	s.DefocusAt = 7
	out = append(out, s)
	s = sc("turn", "moved", 16)
	s.MovedAt = 7
	out = append(out, s)
	return out
}

// Pair is a 1080p main stream and its 360p sub stream showing the same
// crossing; the sub's truth regions are in the main stream's pixels.
func Pair() (main, sub Scene) {
	main = Scene{Name: "pair-crossing-1080p", Family: "pairmain", Width: 1920, Height: 1080, Duration: 12}
	main.Objects = []Object{cross(medium, 5, 3)}
	sub = main
	sub.Name, sub.Family, sub.Width, sub.Height = "pair-crossing-360p", "pair", 640, 360
	sub.MainWidth, sub.MainHeight = 1920, 1080
	return main, sub
}

// Bitrate is the camera-like rate for a picture height.
func Bitrate(height int) string {
	switch {
	case height <= 360:
		return "512k"
	case height <= 720:
		return "2M"
	}
	return "4M"
}

// filterGraph builds the ffmpeg -filter_complex for s. Input 0 is the
// street, input 1 the object texture, input 2 white (rain), input 3 the bush.
func (s Scene) filterGraph() string {
	W, H := s.Width, s.Height
	var g []string
	// The street: houses, a road with lane marks, fine texture; sensor noise.
	g = append(g, fmt.Sprintf("[0:v]trim=end_frame=1,format=yuv420p,geq=lum='70+45*mod(floor(X/(W/7)),2)*lt(Y,H*0.42)+25*lt(Y,H*0.42)*gt(mod(Y,H/9),H/18)+10*sin(X/3)*sin(Y/4)+55*between(Y,H*0.72,H*0.74)*lt(mod(X,W/6),W/12)':cb='128+12*lt(Y,H*0.42)':cr='126',loop=loop=-1:size=1:start=0,setpts=N/%d/TB,noise=alls=9:allf=t[street]", FPS))
	cur := "street"
	// Objects: textured boxes moving along their legs.
	for i, o := range s.Objects {
		ow, oh := even(o.W*float64(W)), even(o.H*float64(H))
		var xs []string
		for j, m := range o.Moves {
			leg := fmt.Sprintf("(%g+(%g)*(t-%g)/%g)*%d", m.X0, m.X1-m.X0, m.T0, m.T1-m.T0, W)
			hold := fmt.Sprintf("%g*%d", m.X1, W)
			if j == len(o.Moves)-1 {
				hold = fmt.Sprintf("%d", 2*W) // gone
			}
			xs = append(xs, fmt.Sprintf("if(lt(t,%g),%s,if(lt(t,%g),%s,", m.T1, leg, nextT0(o.Moves, j), hold))
		}
		x := strings.Join(xs, "") + fmt.Sprintf("%d", 2*W) + strings.Repeat("))", len(o.Moves))
		x = fmt.Sprintf("if(lt(t,%g),%d,%s)", o.Moves[0].T0, 2*W, x)
		g = append(g, fmt.Sprintf("[1:v]scale=%d:%d,format=yuv420p[obj%d]", ow, oh, i))
		g = append(g, fmt.Sprintf("[%s][obj%d]overlay=x='%s':y=%d:eval=frame[o%d]", cur, i, x, int(o.Y*float64(H)), i))
		cur = fmt.Sprintf("o%d", i)
	}
	if s.Foliage {
		bw, bh := even(0.28*float64(W)), even(0.42*float64(H))
		g = append(g, fmt.Sprintf("[3:v]scale=%d:%d,format=yuv420p,noise=alls=70,boxblur=3:1,eq=contrast=1.6[bush0]", bw, bh))
		g = append(g, fmt.Sprintf("[%s][bush0]overlay=x='-%d+%d*sin(2*PI*0.6*t)+%d*sin(2*PI*1.7*t)':y='-%d+%d*sin(2*PI*0.9*t)':eval=frame[bush]",
			cur, bw/6, bw/12, bw/40, bh/8, bh/30))
		cur = "bush"
	}
	if s.Rain {
		g = append(g, fmt.Sprintf("[2:v]format=gray,noise=alls=100:allf=t+u,lutyuv=y='255*gt(val,222)',avgblur=sizeX=1:sizeY=%d,lutyuv=y='min(255,val*6)'[drops]", max(3, H/40)))
		g = append(g, fmt.Sprintf("color=c=0xd8d8e0:s=%dx%d:r=%d,format=yuv420p[white]", W, H, FPS))
		g = append(g, "[white][drops]alphamerge[rainA]")
		g = append(g, fmt.Sprintf("[%s][rainA]overlay=format=auto,format=yuv420p[rained]", cur))
		cur = "rained"
	}
	if s.Insects {
		// Moths by the IR LEDs: a few blurred bright specks darting about
		// close to the lens, each a little way then gone.
		for i := 0; i < 5; i++ {
			sz := even(float64(H) / 30)
			ph := float64(i) * 1.37
			g = append(g, fmt.Sprintf("color=c=white:s=%dx%d:r=%d,format=yuva420p,geq=lum=255:a='255*exp(-((X-W/2)*(X-W/2)+(Y-H/2)*(Y-H/2))/(W*W/8))'[m%d]", sz, sz, FPS, i))
			g = append(g, fmt.Sprintf("[%s][m%d]overlay=x='%d*(0.5+0.4*sin(%g*t+%g)+0.08*sin(23*t+%g))':y='%d*(0.5+0.4*cos(%g*t+%g)+0.08*sin(19*t+%g))':enable='lt(mod(t+%g,4),0.6)':eval=frame[mo%d]",
				cur, i, W, 1.3+0.4*float64(i), ph, ph, H, 1.1+0.3*float64(i), ph*2, ph, ph, i))
			cur = fmt.Sprintf("mo%d", i)
		}
	}
	if s.Headlight {
		// A car's beams sweep the scene from left to right twice.
		g = append(g, fmt.Sprintf("color=c=white:s=%dx%d:r=%d,format=yuva420p,geq=lum=235:a='200*exp(-((X-W/2)*(X-W/2)/(W*W/16)+(Y-H/2)*(Y-H/2)/(H*H/10)))'[beam]", even(float64(W)/2), even(float64(H)*0.7), FPS))
		g = append(g, fmt.Sprintf("[%s][beam]overlay=x='-%d+%d*mod(t-4,6)/2.5':y=%d:enable='between(mod(t-4,6),0,2.6)*gte(t,4)':eval=frame[hl]", cur, W/2, W+W/2, H/5))
		cur = "hl"
	}
	if s.LightsOn > 0 {
		off := s.LightsOff
		if off == 0 {
			off = 1e9
		}
		g = append(g, fmt.Sprintf("[%s]eq=brightness='-0.33*(lt(t,%g)+gte(t,%g))':contrast='1-0.55*(lt(t,%g)+gte(t,%g))':saturation='1-0.6*(lt(t,%g)+gte(t,%g))':eval=frame[room]", cur, s.LightsOn, off, s.LightsOn, off, s.LightsOn, off))
		cur = "room"
	}
	if s.DefocusAt > 0 {
		g = append(g, fmt.Sprintf("[%s]split[sharp][tob];[tob]gblur=sigma=%g[blurred];[sharp][blurred]blend=all_expr='A+(B-A)*min(1,max(0,(T-%g)/2))'[defocus]", cur, float64(H)/90, s.DefocusAt))
		cur = "defocus"
	}
	if s.MovedAt > 0 {
		g = append(g, fmt.Sprintf("[%s]scale=%d:%d,crop=%d:%d:x='if(gte(t,%g),%d,%d)':y=%d[moved]", cur, W*12/10, H*12/10, W, H, s.MovedAt, W/10+W/20, W/20, H/10))
		cur = "moved"
	}
	if s.Dusk {
		g = append(g, fmt.Sprintf("[%s]eq=brightness='-0.3*t/%g':contrast='1-0.3*t/%g':eval=frame[dusk]", cur, s.Duration, s.Duration))
		cur = "dusk"
	}
	if s.Night {
		g = append(g, fmt.Sprintf("[%s]hue=s=0,eq=contrast=0.6:brightness=-0.12,noise=c0s=20:c0f=t[night]", cur))
		cur = "night"
	}
	if s.IRAt > 0 {
		g = append(g, fmt.Sprintf("[%s]hue=s=0:enable='gte(t,%g)',eq=contrast=0.8:brightness=0.08:enable='gte(t,%g)',noise=c0s=22:c0f=t:enable='gte(t,%g)'[ir]", cur, s.IRAt, s.IRAt, s.IRAt))
		cur = "ir"
	}
	if s.CoverAt > 0 {
		g = append(g, fmt.Sprintf("[%s]drawbox=x=0:y=0:w=iw:h=ih:color=0x101010@0.97:t=fill:enable='gte(t,%g)'[cov]", cur, s.CoverAt))
		cur = "cov"
	}
	g[len(g)-1] = g[len(g)-1][:strings.LastIndexByte(g[len(g)-1], '[')] + "[out]"
	return strings.Join(g, ";")
}

func nextT0(ms []Move, j int) float64 {
	if j+1 < len(ms) {
		return ms[j+1].T0
	}
	return 1e9
}

func even(f float64) int { return max(2, int(f)/2*2) }

// Generate writes s's clip (NAME.h264, Annex B) and truth (NAME.json) into
// dir, unless both are already there.
func Generate(ctx context.Context, dir string, s Scene) error {
	clip := filepath.Join(dir, s.Name+".h264")
	truth := filepath.Join(dir, s.Name+".json")
	if fileOK(clip) && fileOK(truth) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	size := fmt.Sprintf("%dx%d", s.Width, s.Height)
	tmp := fmt.Sprintf("%s.%d.tmp", clip, os.Getpid()) // two generators may race on one folder
	defer os.Remove(tmp)
	rate := Bitrate(s.Height)
	x264 := fmt.Sprintf("scenecut=0:keyint=%d:min-keyint=%d:repeat-headers=1", s.GOP(), s.GOP())
	if s.NoWeightP {
		x264 += ":weightp=0"
	}
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=gray:s=%s:r=%d", size, FPS),
		"-f", "lavfi", "-i", fmt.Sprintf("smptebars=s=320x240:r=%d", FPS),
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=gray:s=%s:r=%d", size, FPS),
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x2f6a2a:s=320x240:r=%d", FPS),
		"-filter_complex", s.filterGraph(), "-map", "[out]", "-t", fmt.Sprint(s.Duration),
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p", "-bf", "0",
		"-x264-params", x264,
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate, "-threads", "1",
		"-f", "h264", tmp}
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scenes: ffmpeg for %s: %w\n%s", s.Name, err, out)
	}
	if err := os.Rename(tmp, clip); err != nil {
		return err
	}
	j, err := json.MarshalIndent(s.Truth(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(truth+".tmp", append(j, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(truth+".tmp", truth)
}

func fileOK(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Size() > 0
}

// Load reads a truth file.
func Load(path string) (Truth, error) {
	var t Truth
	b, err := os.ReadFile(path)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("scenes: %s: %w", path, err)
	}
	return t, nil
}

// Seconds converts a clip offset to a duration.
func Seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
