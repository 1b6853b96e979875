// Package camsim simulates household RTSP cameras for tests and benchmarks:
// one process serves many cameras, each looping pre-encoded clips (a main
// stream and a sub stream) in real time with wall-clock RTP timestamps, and
// each can be told to misbehave (drop, stall, parameter sets only in the SDP,
// timestamp jumps, garbage, offline) from Go or over a small HTTP control
// endpoint.
//
// The clips are pre-packetized into RTP payloads once and shared by every
// camera and reader, so a simulator serving 64 cameras stays cheap.
package camsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
)

// Config says what to serve.
type Config struct {
	// Listen is the RTSP address, e.g. "127.0.0.1:8554" (":0"-style ports work).
	Listen string
	// Cameras is how many H.264 cameras (cam1 … camN) to serve.
	Cameras int
	// ClipsDir holds moving-720p.h264, static-720p.h264, moving-360p.h264,
	// static-360p.h264 and moving-720p.hevc (made by hwtest/clips/gen.sh).
	ClipsDir string
	// H265Cameras lists camera numbers (1-based) whose main stream is the
	// H.265 clip instead of an H.264 one.
	H265Cameras []int
	// NoH265Camera leaves out the extra camera "h265" (main stream H.265,
	// sub stream H.264), served by default.
	NoH265Camera bool
	// User and Password, when User is set, are the credentials every
	// camera asks for (RTSP basic or digest authentication), like a real
	// camera; wrong ones get 401 Unauthorized.
	User, Password string
	// Audio gives cameras (by 1-based number) a sound track on their main
	// stream: AAC, PCMA or PCMU, looping a tone clip.
	Audio map[int]AudioCodec
	// Logf receives one line per notable event; nil is silent.
	Logf func(format string, args ...any)
	// ONVIF, when not nil, gives every camera an ONVIF device service
	// (and a WS-Discovery responder if ONVIF.Discovery).
	ONVIF *ONVIFConfig

	// firstFrame is where in its clip the first camera starts (tests use
	// it to cross the loop point early).
	firstFrame int
}

// Sim is a running camera simulator.
type Sim struct {
	cfg     Config
	srv     *gortsplib.Server
	addr    string
	handler *rtspHandler

	cameras []*Camera
	byName  map[string]*Camera
	streams map[string]*stream // by path without leading slash

	responder *Responder

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Clip file names inside Config.ClipsDir.
const (
	ClipMoving720  = "moving-720p.h264"
	ClipStatic720  = "static-720p.h264"
	ClipMoving360  = "moving-360p.h264"
	ClipStatic360  = "static-360p.h264"
	ClipMovingHEVC = "moving-720p.hevc"
)

// Start loads the clips, listens and starts every camera.
func Start(cfg Config) (*Sim, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8554"
	}
	if cfg.Cameras < 0 {
		return nil, fmt.Errorf("camsim: %d cameras", cfg.Cameras)
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	h265 := map[int]bool{}
	for _, k := range cfg.H265Cameras {
		if k < 1 || k > cfg.Cameras {
			return nil, fmt.Errorf("camsim: H.265 camera %d is not one of cam1…cam%d", k, cfg.Cameras)
		}
		h265[k] = true
	}

	clips := map[string]*Clip{}
	load := func(name string) (*Clip, error) {
		if c, ok := clips[name]; ok {
			return c, nil
		}
		codec := H264
		if strings.HasSuffix(name, ".hevc") {
			codec = H265
		}
		c, err := LoadClip(filepath.Join(cfg.ClipsDir, name), codec)
		if err != nil {
			return nil, fmt.Errorf("camsim: %w (make clips builds them)", err)
		}
		clips[name] = c
		return c, nil
	}

	s := &Sim{cfg: cfg, byName: map[string]*Camera{}, streams: map[string]*stream{}}
	s.handler = &rtspHandler{sim: s, sessions: map[*gortsplib.ServerSession]*sessionInfo{}}
	var ln net.Listener
	s.srv = &gortsplib.Server{
		Handler:     s.handler,
		RTSPAddress: cfg.Listen,
		// A second of a 720p stream at 4 Mbit/s is ~360 packets: let a
		// reader fall a few seconds behind before it loses packets.
		WriteQueueSize: 2048,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			ln = l
			return l, err
		},
	}

	type camSpec struct {
		name      string
		main, sub string
		audio     AudioCodec
	}
	var specs []camSpec
	for k := 1; k <= cfg.Cameras; k++ {
		main, sub := ClipMoving720, ClipMoving360
		if k%2 == 0 {
			main, sub = ClipStatic720, ClipStatic360
		}
		if h265[k] {
			main = ClipMovingHEVC
		}
		specs = append(specs, camSpec{fmt.Sprintf("cam%d", k), main, sub, cfg.Audio[k]})
	}
	if !cfg.NoH265Camera {
		specs = append(specs, camSpec{"h265", ClipMovingHEVC, ClipMoving360, ""})
	}
	for _, sp := range specs {
		mc, err := load(sp.main)
		if err != nil {
			return nil, err
		}
		sc, err := load(sp.sub)
		if err != nil {
			return nil, err
		}
		cam := &Camera{name: sp.name, sim: s}
		cam.main = &stream{cam: cam, path: sp.name, clip: mc}
		if sp.audio != "" {
			f := AudioClipFile(sp.audio)
			if f == "" {
				return nil, fmt.Errorf("camsim: %s: audio codec %q (want aac, pcma or pcmu)", sp.name, sp.audio)
			}
			ac, err := LoadAudioClip(filepath.Join(cfg.ClipsDir, f), sp.audio)
			if err != nil {
				return nil, fmt.Errorf("camsim: %s: %w (make clips builds them)", sp.name, err)
			}
			cam.main.audio = ac
		}
		cam.sub = &stream{cam: cam, path: sp.name + "/sub", clip: sc}
		s.cameras = append(s.cameras, cam)
		s.byName[cam.name] = cam
		s.streams[cam.main.path] = cam.main
		s.streams[cam.sub.path] = cam.sub
	}

	if err := s.srv.Start(); err != nil {
		return nil, fmt.Errorf("camsim: listen on %s: %w", cfg.Listen, err)
	}
	s.addr = ln.Addr().String()
	var inited []*stream
	for _, cam := range s.cameras {
		for _, st := range []*stream{cam.main, cam.sub} {
			if err := st.init(s.srv); err != nil {
				for _, st := range inited {
					st.st.Close()
				}
				s.srv.Close()
				return nil, fmt.Errorf("camsim: %s: %w", st.path, err)
			}
			inited = append(inited, st)
		}
	}

	if cfg.ONVIF != nil {
		if err := s.startONVIF(); err != nil {
			s.stopONVIF()
			for _, st := range inited {
				st.st.Close()
			}
			s.srv.Close()
			return nil, err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	// Stagger cameras: a different tick phase and clip position for each,
	// so key frames of many cameras do not all arrive together.
	base := time.Now().Truncate(time.Microsecond)
	n := len(s.cameras)
	for i, cam := range s.cameras {
		phase := time.Duration(i) * frameInterval / time.Duration(n)
		startFrame := (cfg.firstFrame + i*37) % len(cam.main.clip.Frames)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			cam.run(ctx, base.Add(phase), startFrame)
		}()
	}
	cfg.Logf("camsim: serving %d cameras on rtsp://%s", len(s.cameras), s.addr)
	return s, nil
}

// Close stops every camera and the server. It may be called more than once.
func (s *Sim) Close() {
	s.closeOnce.Do(func() {
		s.stopONVIF()
		s.cancel()
		s.wg.Wait()
		s.srv.Close()
		for _, cam := range s.cameras {
			cam.main.st.Close()
			cam.sub.st.Close()
		}
	})
}

// Addr is the RTSP listen address (host:port).
func (s *Sim) Addr() string { return s.addr }

// Cameras returns the cameras in order (cam1…camN, then h265).
func (s *Sim) Cameras() []*Camera { return append([]*Camera(nil), s.cameras...) }

// Camera returns the named camera, or nil.
func (s *Sim) Camera(name string) *Camera { return s.byName[name] }

// CameraNames returns the cameras' names, sorted.
func (s *Sim) CameraNames() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrUnknownCamera is returned for a camera name the simulator does not serve.
var ErrUnknownCamera = errors.New("unknown camera")
