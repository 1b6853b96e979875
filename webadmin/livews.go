package webadmin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/websocket"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/live"
)

// apiLive streams a camera as fMP4 over a WebSocket: a text message
// {"type":"start",...} with the MSE type, then binary messages: the init
// segment, then one fragment per picture, starting at the last key frame.
func (s *Server) apiLive(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Live == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	// stream=sub asks for the camera's sub stream (the wall of many
	// cameras); a camera without one gives its main stream.
	sub, err := s.cfg.Live.Subscribe(rc.camera + "/sub")
	if r.URL.Query().Get("stream") != "sub" || err != nil {
		if err == nil {
			sub.Close()
		}
		sub, err = s.cfg.Live.Subscribe(rc.camera)
	}
	if err != nil {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	defer sub.Close()
	srv := websocket.Server{
		Handshake: func(cfg *websocket.Config, req *http.Request) error {
			// Refuse cross-site WebSockets: the origin must be this host.
			o, err := url.Parse(req.Header.Get("Origin"))
			if err != nil || o.Host != req.Host {
				return errors.New("cross-origin websocket refused")
			}
			cfg.Origin = o
			return nil
		},
		Handler: func(ws *websocket.Conn) {
			defer ws.Close()
			// The audit line (an fsync) is written beside the first frames,
			// not before the handshake answer: browsers open a page's
			// WebSockets one after another.
			audited := make(chan struct{})
			go func() {
				defer close(audited)
				s.auditAppend(r, rc, audit.LiveView, rc.camera, "")
			}()
			defer func() { <-audited }()
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			go func() { // the reader notices the browser going away
				var buf [512]byte
				for {
					if _, err := ws.Read(buf[:]); err != nil {
						cancel()
						return
					}
				}
			}()
			ws.PayloadType = websocket.BinaryFrame
			var buf []byte
			var pending *live.Message
			for {
				var m live.Message
				var err error
				if pending != nil {
					m, pending = *pending, nil
				} else {
					m, err = sub.Next(ctx)
				}
				if err != nil {
					s.log.Warn("live: viewer ended", "camera", rc.camera, "err", err)
					return
				}
				ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if m.Start != nil {
					b, _ := json.Marshal(struct {
						Type string `json:"type"`
						*live.Start
					}{"start", m.Start})
					if websocket.Message.Send(ws, string(b)) != nil {
						return
					}
					if websocket.Message.Send(ws, m.Init) != nil {
						return
					}
					continue
				}
				// Coalesce what is queued (the key-frame backlog of a new
				// viewer, or frames that piled up) into one message: fewer
				// events for a busy browser.
				batch := append(buf[:0], m.Frag...)
			drain:
				for len(batch) < 4<<20 {
					select {
					case n, ok := <-sub.C:
						if !ok {
							return
						}
						if n.Start != nil {
							pending = &n
							break drain
						}
						batch = append(batch, n.Frag...)
					default:
						break drain
					}
				}
				buf = batch
				if err := websocket.Message.Send(ws, batch); err != nil {
					s.log.Warn("live: send failed", "camera", rc.camera, "err", err)
					return
				}
			}
		},
	}
	srv.ServeHTTP(w, r)
}
