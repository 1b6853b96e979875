package webadmin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/webrtc"
)

// apiLiveRTC answers a WebRTC offer for one camera (/api/webrtc/{camera})
// or several (/api/webrtc?camera=a&camera=b, the wall: one peer
// connection, one receive-only video m-line per camera in that order).
// The body is {"sdp": OFFER}; the answer {"type":"answer","sdp":...}
// carries the box's own address on its one UDP port. stream=sub asks for
// the sub streams. The session ends with the login (logout, expiry,
// password change, a deleted account), as the MSE WebSocket does.
// 415 (err_live_codec): a camera is H.265, the page uses MSE for it; 429
// (err_live_busy): too many sessions; 503: no WebRTC on this box.
func (s *Server) apiLiveRTC(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.LiveRTC == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	cams := rc.videoCameras()
	var req struct {
		SDP string `json:"sdp"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	answer, err := s.cfg.LiveRTC.Answer(ctx, webrtc.Request{
		User: rc.user.Name, Cameras: cams, Sub: r.URL.Query().Get("stream") == "sub",
		Offer: req.SDP, Done: rc.session.Done(),
	})
	switch {
	case errors.Is(err, webrtc.ErrUnsupported):
		s.jsonError(w, rc, http.StatusUnsupportedMediaType, "err_live_codec", "H.265")
		return
	case errors.Is(err, webrtc.ErrBusy):
		s.jsonError(w, rc, http.StatusTooManyRequests, "err_live_busy")
		return
	case errors.Is(err, webrtc.ErrBadOffer):
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", "SDP")
		return
	case errors.Is(err, live.ErrUnknownCamera):
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	case err != nil:
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_internal", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"type": "answer", "sdp": answer})
	// Audited once the answer is on its way, not before (an fsync per
	// camera would delay the wall).
	http.NewResponseController(w).Flush()
	for _, cam := range cams {
		s.auditAppend(r, rc, audit.LiveView, cam, "WebRTC")
	}
}
