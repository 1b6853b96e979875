package camsim

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
)

// rtspHandler answers the RTSP requests of every camera and keeps track of
// sessions, so that faults can close them and idle streams cost nothing.
type rtspHandler struct {
	sim *Sim

	mu       sync.Mutex
	sessions map[*gortsplib.ServerSession]*sessionInfo
}

type sessionInfo struct {
	stream  *stream
	playing bool
	lastLog atomic.Int64 // unix ns of the last write error logged
}

func (h *rtspHandler) lookup(path string) *stream {
	return h.sim.streams[strings.Trim(path, "/")]
}

// authorized checks the request's credentials when the simulator asks for
// them. A request without any gets a challenge; wrong ones close the
// connection (gortsplib's behaviour for liberrors.ErrServerAuth).
func (h *rtspHandler) authorized(conn *gortsplib.ServerConn, req *base.Request) bool {
	cfg := &h.sim.cfg
	return cfg.User == "" || conn.VerifyCredentials(req, cfg.User, cfg.Password)
}

// open is what DESCRIBE and SETUP both check: the credentials, that the
// path names a stream, and that its camera is online. A nil stream comes
// with the response (and error) to answer.
func (h *rtspHandler) open(conn *gortsplib.ServerConn, req *base.Request, path string) (*stream, *base.Response, error) {
	if !h.authorized(conn, req) {
		return nil, &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	st := h.lookup(path)
	if st == nil {
		return nil, &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	if st.cam.offline() {
		return nil, &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
	}
	return st, nil, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (h *rtspHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	st, res, err := h.open(ctx.Conn, ctx.Request, ctx.Path)
	if st == nil {
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, st.st, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (h *rtspHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil, nil
	}
	st, res, err := h.open(ctx.Conn, ctx.Request, ctx.Path)
	if st == nil {
		return res, nil, err
	}
	h.mu.Lock()
	if _, ok := h.sessions[ctx.Session]; !ok {
		si := &sessionInfo{stream: st}
		h.sessions[ctx.Session] = si
		ctx.Session.SetUserData(si)
	}
	h.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, st.st, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (h *rtspHandler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	si, ok := h.sessions[ctx.Session]
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	if !si.playing {
		si.playing = true
		si.stream.readers.Add(1)
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnPause implements gortsplib.ServerHandlerOnPause.
func (h *rtspHandler) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if si, ok := h.sessions[ctx.Session]; ok && si.playing {
		si.playing = false
		si.stream.readers.Add(-1)
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce: cameras do not
// accept published streams.
func (h *rtspHandler) OnAnnounce(*gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusMethodNotAllowed}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (h *rtspHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if si, ok := h.sessions[ctx.Session]; ok {
		if si.playing {
			si.stream.readers.Add(-1)
		}
		delete(h.sessions, ctx.Session)
	}
}

// closeSessions closes every session reading one of cam's streams and
// returns how many.
func (h *rtspHandler) closeSessions(cam *Camera) int {
	h.mu.Lock()
	var victims []*gortsplib.ServerSession
	for ss, si := range h.sessions {
		if si.stream.cam == cam {
			victims = append(victims, ss)
		}
	}
	h.mu.Unlock()
	for _, ss := range victims {
		ss.Close()
	}
	return len(victims)
}

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError:
// a reader too slow for its write queue loses packets. Counted per camera
// and logged at most once a second per session (gortsplib would log every
// packet).
func (h *rtspHandler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	// Called while gortsplib holds the stream's lock: no h.mu here.
	si, ok := ctx.Session.UserData().(*sessionInfo)
	if !ok {
		return
	}
	si.stream.cam.lostPackets.Add(1)
	now := time.Now().UnixNano()
	if last := si.lastLog.Load(); now-last >= int64(time.Second) && si.lastLog.CompareAndSwap(last, now) {
		h.sim.cfg.Logf("camsim: %s: a reader is too slow: %v (packets lost)", si.stream.path, ctx.Error)
	}
}
