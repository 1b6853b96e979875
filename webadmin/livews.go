package webadmin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/websocket"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/live"
)

// apiLive streams one camera (/api/live/{camera}) or several
// (/api/live?camera=a&camera=b, the wall: one WebSocket instead of one per
// tile) as fMP4. Messages: text {"type":"start","index":i,...} with the MSE
// type of camera i, then binary messages whose first byte is i and the rest
// the init segment or fragments, starting at the camera's last key frame;
// {"type":"ended","index":i} when camera i's stream stops (a new start
// follows when it comes back).
// stream=sub asks for the cameras' sub streams (a camera without one gives
// its main stream).
func (s *Server) apiLive(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Live == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	cams := rc.videoCameras()
	wantSub := r.URL.Query().Get("stream") == "sub"
	var subs []*live.Subscription
	defer func() {
		for _, sub := range subs {
			sub.Close()
		}
	}()
	for _, cam := range cams {
		sub, err := s.cfg.Live.Subscribe(cam + "/sub")
		if !wantSub || err != nil {
			if err == nil {
				sub.Close()
			}
			sub, err = s.cfg.Live.Subscribe(cam)
		}
		if err != nil {
			s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
			return
		}
		subs = append(subs, sub)
	}
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
			// The audit lines (an fsync) are written beside the first
			// frames, not before the handshake answer: browsers open a
			// page's WebSockets one after another.
			audited := make(chan struct{})
			go func() {
				defer close(audited)
				for _, cam := range cams {
					s.auditAppend(r, rc, audit.LiveView, cam, "")
				}
			}()
			defer func() { <-audited }()
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			go func() { // the stream ends with its session (logout, expiry, password change, account deleted)
				select {
				case <-rc.session.Done():
					s.log.Info("live: session ended, closing its stream", "user", rc.user.Name)
					cancel()
					ws.SetWriteDeadline(time.Now()) // a blocked send gives up at once; later ones see ctx
				case <-ctx.Done():
				}
			}()
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
			var sendMu sync.Mutex
			send := func(v any) error {
				sendMu.Lock()
				defer sendMu.Unlock()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
				return websocket.Message.Send(ws, v)
			}
			var wg sync.WaitGroup
			for i, sub := range subs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer cancel() // one camera's failure ends the socket
					if err := forward(ctx, byte(i), sub, send); err != nil && ctx.Err() == nil {
						s.log.Warn("live: viewer ended", "camera", cams[i], "err", err)
					}
				}()
			}
			wg.Wait()
			ws.SetWriteDeadline(time.Now().Add(time.Second)) // room for the close frame
		},
	}
	srv.ServeHTTP(w, r)
}

// forward sends one camera's messages, coalescing what is queued (the
// key-frame backlog of a new viewer, or frames that piled up) into one
// message: fewer events for a busy browser.
func forward(ctx context.Context, index byte, sub *live.Subscription, send func(any) error) error {
	buf := []byte{index}
	var pending *live.Message
	for {
		var m live.Message
		var err error
		if pending != nil {
			m, pending = *pending, nil
		} else if m, err = sub.Next(ctx); err != nil {
			return err
		}
		if m.Ended {
			b, _ := json.Marshal(struct {
				Type  string `json:"type"`
				Index int    `json:"index"`
			}{"ended", int(index)})
			if err := send(string(b)); err != nil {
				return err
			}
			continue
		}
		if m.Start != nil {
			b, _ := json.Marshal(struct {
				Type  string `json:"type"`
				Index int    `json:"index"`
				*live.Start
			}{"start", int(index), m.Start})
			if err := send(string(b)); err != nil {
				return err
			}
			if err := send(append([]byte{index}, m.Init...)); err != nil {
				return err
			}
			continue
		}
		batch := append(buf[:1], m.Frag...)
	drain:
		for len(batch) < 4<<20 {
			select {
			case n, ok := <-sub.C:
				if !ok {
					return errors.New("live: subscription closed")
				}
				if n.Start != nil || n.Ended {
					pending = &n
					break drain
				}
				batch = append(batch, n.Frag...)
			default:
				break drain
			}
		}
		buf = batch
		if err := send(batch); err != nil {
			return err
		}
	}
}
