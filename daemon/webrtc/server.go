// Package webrtc serves the live view over WebRTC, without transcoding:
// each camera's H.264 access units, read from the live hub (daemon/live)
// through a viewer queue of their own, are cut into RTP packets as they
// come (the sub stream for the wall, the main stream for full screen).
//
// The box is always the answerer: the browser offers receive-only video
// m-lines, one per camera, and the box answers once its candidates are
// gathered (no trickle). Every session shares ONE UDP port (an ICE UDP
// mux on one socket); the box offers only host candidates on its own
// address: no STUN, no TURN, nothing outside the LAN. There is no HTTP
// here: webadmin carries the offer and the answer through its
// authenticated, role-checked routes and ends a session with its login.
//
// Sessions are bounded per user and in total, and so are the tracks
// (cameras) they carry; a session that does not connect within
// Config.ConnectTimeout, or whose connection fails, closes itself.
package webrtc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	pion "github.com/pion/webrtc/v4"

	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/positive"
)

// Bounds on the sessions (one per browser page: a wall of up to 32
// cameras is one session) and on the cameras they carry.
const (
	DefaultMaxSessions       = 32
	DefaultMaxSessionsOfUser = 6
	DefaultMaxTracks         = 128
	DefaultConnectTimeout    = 10 * time.Second
	// MaxTracksOfSession is the most cameras one session carries (the
	// admin page's wall route allows 32).
	MaxTracksOfSession = 32
	// maxOfferBytesPerLine bounds an offer's size: this much per m-line
	// (its cameras and one for sound), and as much again for the session
	// lines. Chromium offers about 5 KB an m-line with all its codecs (a
	// 16-camera wall: 80 KB); the page offers H.264 alone, about 1 KB.
	maxOfferBytesPerLine = 8 << 10
)

// Errors of Answer.
var (
	// ErrBusy: a bound on sessions or tracks is reached.
	ErrBusy = errors.New("webrtc: too many live sessions")
	// ErrUnsupported: a camera's codec cannot go over WebRTC here (H.265).
	ErrUnsupported = errors.New("webrtc: codec not supported over WebRTC")
	// ErrBadOffer: the offer is not one this server answers.
	ErrBadOffer = errors.New("webrtc: bad offer")
	// ErrClosed: the server is closed.
	ErrClosed = errors.New("webrtc: server closed")
)

// Source gives viewers of a live feed (live.Hub).
type Source interface {
	Subscribe(feed string) (*live.Subscription, error)
}

// SoundSource is a Source that also gives the camera's sound (live.Hub).
type SoundSource interface {
	// Sound is the camera's sound as passed on now (nil: none).
	Sound(camera string) *media.Audio
	// SubscribeSound is a viewer of the camera's sound alone.
	SubscribeSound(camera string) (*live.Subscription, error)
}

// Config configures a Server.
type Config struct {
	// Address is the one UDP port's address, host:port. A host of
	// 0.0.0.0 offers every interface's addresses; a loopback host (tests)
	// offers 127.0.0.1.
	Address string
	// PublicIPs, when set, replace the addresses the box offers (the
	// box behind a 1:1 NAT; never needed on the LAN).
	PublicIPs []string
	Source    Source
	// Bounds; zero means the Default* values.
	MaxSessions, MaxSessionsOfUser, MaxTracks int
	ConnectTimeout                            time.Duration
	Log                                       *slog.Logger
}

// Server answers WebRTC offers for live feeds.
type Server struct {
	cfg  Config
	conn net.PacketConn
	mux  interface{ Close() error }
	api  *pion.API
	log  *slog.Logger

	mu       sync.Mutex
	cert     *pion.Certificate // the DTLS certificate, made once a day (not per session: keys cost time)
	certAt   time.Time
	sessions map[*session]struct{}
	ofUser   map[string]int
	tracks   int
	closed   bool
	wg       sync.WaitGroup
}

// New opens the UDP port and returns a server.
func New(cfg Config) (*Server, error) {
	if cfg.Source == nil {
		return nil, errors.New("webrtc: no source")
	}
	cfg.MaxSessions = positive.Or(cfg.MaxSessions, DefaultMaxSessions)
	cfg.MaxSessionsOfUser = positive.Or(cfg.MaxSessionsOfUser, DefaultMaxSessionsOfUser)
	cfg.MaxTracks = positive.Or(cfg.MaxTracks, DefaultMaxTracks)
	cfg.ConnectTimeout = positive.Or(cfg.ConnectTimeout, DefaultConnectTimeout)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	conn, err := net.ListenPacket("udp4", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("webrtc: listen on UDP %s: %w", cfg.Address, err)
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	lf.Writer = slogWriter{cfg.Log}
	mux := pion.NewICEUDPMux(lf.NewLogger("ice"), conn)

	var se pion.SettingEngine
	se.LoggerFactory = lf
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // the box's candidates are plain addresses
	se.SetICETimeouts(2*time.Second, 4*time.Second, time.Second)
	host, _, _ := net.SplitHostPort(conn.LocalAddr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		se.SetIncludeLoopbackCandidate(true)
	}
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, pion.ICECandidateTypeHost)
	}
	me, err := mediaEngine()
	if err != nil {
		mux.Close()
		return nil, err
	}
	s := &Server{
		cfg: cfg, conn: conn, mux: mux, log: cfg.Log,
		api:      pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(me)),
		sessions: map[*session]struct{}{}, ofUser: map[string]int{},
	}
	return s, nil
}

// certificate is the DTLS certificate of new sessions (under s.mu).
func (s *Server) certificate() ([]pion.Certificate, error) {
	if s.cert == nil || time.Since(s.certAt) > 24*time.Hour {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("webrtc: DTLS key: %w", err)
		}
		c, err := pion.GenerateCertificate(key)
		if err != nil {
			return nil, fmt.Errorf("webrtc: DTLS certificate: %w", err)
		}
		s.cert, s.certAt = c, time.Now()
	}
	return []pion.Certificate{*s.cert}, nil
}

// Port is the UDP port every session uses.
func (s *Server) Port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// Sessions is the number of open sessions (tests, diagnostics).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Request is one browser's offer.
type Request struct {
	// User owns the session (its bound counts per user).
	User string
	// Cameras are the cameras, in the order of the offer's video m-lines.
	Cameras []string
	// Sub asks for the cameras' sub streams (a camera without one gives
	// its main stream).
	Sub bool
	// Offer is the browser's SDP offer.
	Offer string
	// Done ends the session when closed (the login session's end:
	// logout, expiry, a deleted account).
	Done <-chan struct{}
}

// Answer answers an offer: it opens the session (its queues, its peer
// connection) and returns the SDP answer with the box's candidates. The
// session then lives until req.Done, its connection's failure, the
// connect timeout or Close.
func (s *Server) Answer(ctx context.Context, req Request) (string, error) {
	n := len(req.Cameras)
	if n == 0 || n > MaxTracksOfSession {
		return "", fmt.Errorf("%w: %d cameras", ErrBadOffer, n)
	}
	if req.Offer == "" || len(req.Offer) > (n+2)*maxOfferBytesPerLine {
		return "", fmt.Errorf("%w: offer of %d bytes", ErrBadOffer, len(req.Offer))
	}
	se := &session{srv: s, user: req.User, tracks: n, done: make(chan struct{})}
	if err := s.reserve(se); err != nil {
		return "", err
	}
	answer, err := se.open(ctx, req)
	if err != nil {
		se.close("answer failed")
		return "", err
	}
	return answer, nil
}

// reserve counts se against the bounds.
func (s *Server) reserve(se *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case len(s.sessions) >= s.cfg.MaxSessions:
		return fmt.Errorf("%w: %d sessions open", ErrBusy, len(s.sessions))
	case s.ofUser[se.user] >= s.cfg.MaxSessionsOfUser:
		return fmt.Errorf("%w: %d sessions of %s", ErrBusy, s.ofUser[se.user], se.user)
	case s.tracks+se.tracks > s.cfg.MaxTracks:
		return fmt.Errorf("%w: %d cameras shown", ErrBusy, s.tracks)
	}
	s.sessions[se] = struct{}{}
	s.ofUser[se.user]++
	s.tracks += se.tracks
	s.wg.Add(1)
	return nil
}

// release gives se's share of the bounds back.
func (s *Server) release(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[se]; !ok {
		return
	}
	delete(s.sessions, se)
	if s.ofUser[se.user]--; s.ofUser[se.user] <= 0 {
		delete(s.ofUser, se.user)
	}
	s.tracks -= se.tracks
	s.wg.Done()
}

// Close ends every session and closes the port.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	open := make([]*session, 0, len(s.sessions))
	for se := range s.sessions {
		open = append(open, se)
	}
	s.mu.Unlock()
	for _, se := range open {
		se.close("server closed")
	}
	s.wg.Wait()
	err := s.mux.Close()
	s.conn.Close()
	return err
}

// slogWriter sends pion's log lines to the daemon's log.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("webrtc: " + strings.TrimSpace(string(p)))
	return len(p), nil
}
