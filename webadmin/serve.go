package webadmin

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"
)

// Timeouts bound how long a client may hold a connection without making
// progress.
type Timeouts struct {
	// Handshake bounds the TLS handshake and the request header (both
	// http.Server's ReadHeaderTimeout; the server's handshake timeout is
	// the smallest of its timeouts).
	Handshake time.Duration
	// Read bounds reading one whole request, body included.
	Read time.Duration
	// Write is the longest one write of a response may wait for the
	// client: the deadline moves on with every write, so a long download
	// at a fair speed finishes and a client that stops reading is cut.
	Write time.Duration
	// Idle bounds a keep-alive connection waiting for its next request.
	Idle time.Duration
}

// DefaultTimeouts are the box's.
var DefaultTimeouts = Timeouts{Handshake: 5 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 60 * time.Second}

// MaxHeaderBytes bounds a request's header (net/http allows 1 MB by
// default: times the connection cap, too much memory for the box).
const MaxHeaderBytes = 80 << 10

// NewHTTPServer is an http.Server for the box's listeners: h behind
// Harden, with timeouts t (zero fields: DefaultTimeouts') and bounded
// headers.
func NewHTTPServer(h http.Handler, t Timeouts, errLog *log.Logger) *http.Server {
	t = t.orDefault()
	return &http.Server{
		Handler:           Harden(h, t.Write),
		ReadHeaderTimeout: t.Handshake,
		ReadTimeout:       t.Read,
		// No WriteTimeout: it would bound a whole response (a download,
		// a live stream); Harden bounds each write instead.
		IdleTimeout:    t.Idle,
		MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog:       errLog,
	}
}

func (t Timeouts) orDefault() Timeouts {
	d := DefaultTimeouts
	if t.Handshake > 0 {
		d.Handshake = t.Handshake
	}
	if t.Read > 0 {
		d.Read = t.Read
	}
	if t.Write > 0 {
		d.Write = t.Write
	}
	if t.Idle > 0 {
		d.Idle = t.Idle
	}
	return d
}

// Harden wraps every response of h: the security headers, set before h
// runs (so errors, redirects and other handlers' answers carry them too),
// and a write deadline moved write later by write. A hijacked connection
// (the live WebSocket) starts with no deadline: it sets its own per
// message.
func Harden(h http.Handler, write time.Duration) http.Handler {
	if write <= 0 {
		write = DefaultTimeouts.Write
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		pw := &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: write}
		pw.extend()
		h.ServeHTTP(pw, r)
	})
}

// progressWriter moves the connection's write deadline on at every write.
type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *progressWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *progressWriter) Write(b []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(b)
}

func (w *progressWriter) Flush() {
	w.extend()
	_ = w.rc.Flush()
}

// Hijack hands over the connection with its deadlines cleared: the new
// owner sets its own.
func (w *progressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := w.rc.Hijack()
	if err == nil {
		_ = c.SetDeadline(time.Time{})
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorID names one internal error: the page shows it, the log holds the
// details, so a technician can match the two without the page showing
// paths or other internals.
func errorID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// internalError logs what went wrong under a fresh error id and returns
// the id, which is all the client is shown.
func (s *Server) internalError(details ...any) string {
	id := errorID()
	s.log.Error("webadmin: internal error", "error_id", id, "details", fmt.Sprint(details...))
	return id
}
