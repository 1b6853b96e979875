package motionbench

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion/internal/scenes"
)

// server serves clips over RTSP on 127.0.0.1, one path per clip. A clip
// starts playing from its first frame when the first reader plays it, and
// loops; Started tells when its first frame went out.
type server struct {
	dropped atomic.Int64 // packets a slow reader (Motion falling behind) did not take
	srv     *gortsplib.Server
	addr    string
	mu      sync.Mutex
	streams map[string]*clipStream
}

type clipStream struct {
	st      *gortsplib.ServerStream
	aus     []media.AccessUnit
	lead    time.Duration
	play    chan struct{}
	once    sync.Once
	started time.Time
	mu      sync.Mutex
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startServer() (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{addr: fmt.Sprintf("127.0.0.1:%d", port), streams: map[string]*clipStream{}}
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: s.addr, WriteQueueSize: 4096}
	if err := s.srv.Start(); err != nil {
		return nil, fmt.Errorf("motionbench: RTSP server: %w", err)
	}
	return s, nil
}

func (s *server) close() {
	s.srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.streams {
		c.st.Close()
	}
}

// add serves aus at rtsp://addr/name and streams them (paced, looping)
// once a reader plays, until ctx ends. The clip proper starts lead into aus.
func (s *server) add(ctx context.Context, name string, aus []media.AccessUnit, lead time.Duration) (*clipStream, error) {
	var sps, pps []byte
	for _, n := range aus[0].NALUs {
		switch h264.NALType(n) {
		case h264.NALSPS:
			sps = n
		case h264.NALPPS:
			pps = n
		}
	}
	f := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{f}}}}
	c := &clipStream{st: &gortsplib.ServerStream{Server: s.srv, Desc: desc}, aus: aus, lead: lead, play: make(chan struct{})}
	if err := c.st.Initialize(); err != nil {
		return nil, fmt.Errorf("motionbench: stream %s: %w", name, err)
	}
	s.mu.Lock()
	s.streams[name] = c
	s.mu.Unlock()
	enc, err := f.CreateEncoder()
	if err != nil {
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-c.play:
		}
		t0 := time.Now()
		c.mu.Lock()
		c.started = t0.Add(c.lead)
		c.mu.Unlock()
		frame := time.Second / scenes.FPS
		for i := 0; ; i++ {
			at := t0.Add(time.Duration(i) * frame)
			if d := time.Until(at); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			} else if ctx.Err() != nil {
				return
			}
			au := aus[i%len(aus)]
			pkts, err := enc.Encode(au.NALUs)
			if err != nil {
				continue
			}
			ts := uint32(int64(i) * 90000 / scenes.FPS)
			for _, p := range pkts {
				p.Timestamp = ts
				_ = c.st.WritePacketRTPWithNTP(desc.Medias[0], p, at)
			}
		}
	}()
	return c, nil
}

// Started is when the clip proper's first frame was sent, after the lead-in
// (zero before the stream plays).
func (c *clipStream) Started() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

func (s *server) lookup(path string) *clipStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[strings.Trim(path, "/")]
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (s *server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c := s.lookup(ctx.Path)
	if c == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.st, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (s *server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c := s.lookup(ctx.Path)
	if c == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.st, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (s *server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if c := s.lookup(ctx.Path); c != nil {
		c.once.Do(func() { close(c.play) })
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError:
// a reader too slow to take the stream (its queue is full).
func (s *server) OnStreamWriteError(*gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	s.dropped.Add(1)
}
