package ntp

import (
	"context"
	"errors"
	"net"

	"time"
)

// Upstream describes where a synchronised box got its time, for the
// fields a server copies into its replies.
type Upstream struct {
	// Stratum of the box's source (the box serves Stratum+1, at least 2).
	Stratum uint8
	// RefID of the source (its IPv4 address, for a stratum ≥ 2 server).
	RefID [4]byte
	// RootDelay and RootDispersion to the primary reference, through the
	// source, as last measured.
	RootDelay, RootDispersion time.Duration
	// Reference is when the box's clock was last set from the source.
	Reference time.Time
}

// Server answers NTP client requests (mode 3) with the box's clock. It
// keeps no state per client: one read buffer, one reply, one goroutine
// per Serve. Anything that is not a client request is dropped unanswered.
type Server struct {
	// Now is the clock served; nil means time.Now.
	Now func() time.Time
	// Synced reports whether the box's clock is synchronised. While it is
	// not (or Synced is nil), replies carry leap indicator 3 and stratum
	// 16: careful clients ignore them, simple ones (most cameras) still
	// set their clock, which then agrees with the box's recordings.
	Synced func() bool
	// Upstream, if set, is consulted while synchronised for the reply's
	// stratum, reference ID and root delay/dispersion. Without it a
	// synchronised box serves stratum 3, reference "LOCL" set now.
	Upstream func() Upstream
}

// Serve answers requests arriving on conn until ctx is done or conn
// fails. It does not close conn; it returns ctx's error when ctx ends.
// Several Serve calls (on several sockets) may share one Server.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 512) // a request with extension fields still fits; longer is truncated
	out := make([]byte, 0, PacketSize)
	for {
		n, addr, err := conn.ReadFrom(buf)
		recv := s.now()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // a deadline someone else set
			}
			return err
		}
		out, ok := s.Reply(out[:0], buf[:n], recv)
		if !ok {
			continue
		}
		if _, err := conn.WriteTo(out, addr); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		// A failed send to one client (unreachable, no route) is that
		// client's loss; the server goes on.
	}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Reply appends to b the answer to request req received at recv, and
// reports whether there is one (only well-formed client requests, of
// versions 1–4, are answered). The transmit time is read just before
// returning.
func (s *Server) Reply(b, req []byte, recv time.Time) ([]byte, bool) {
	q, err := Decode(req)
	if err != nil || q.Mode != ModeClient || q.Version < 1 || q.Version > 4 {
		return b, false
	}
	p := Packet{
		Version:   q.Version,
		Mode:      ModeServer,
		Poll:      q.Poll,
		Precision: -20, // ~1 µs: Go's clock reading
		Origin:    q.Transmit,
		Receive:   NewTimestamp(recv),
	}
	if s.Synced != nil && s.Synced() {
		u := Upstream{Stratum: 2, RefID: [4]byte{'L', 'O', 'C', 'L'}, Reference: recv}
		if s.Upstream != nil {
			u = s.Upstream()
		}
		p.Leap = LeapNone
		p.Stratum = min(max(u.Stratum+1, 2), MaxStratum)
		p.RefID = u.RefID
		p.RootDelay = NewShort(u.RootDelay)
		p.RootDispersion = NewShort(u.RootDispersion + since(recv, u.Reference))
		p.Reference = NewTimestamp(u.Reference)
	} else {
		p.Leap = LeapAlarm
		p.Stratum = StratumUnsynced
		p.RefID = [4]byte{'I', 'N', 'I', 'T'}
	}
	p.Transmit = NewTimestamp(s.now())
	return p.Append(b), true
}

// since is the dispersion grown since the clock was last set: 15 ppm of
// the time elapsed (RFC 5905's PHI).
func since(now, ref time.Time) time.Duration {
	if ref.IsZero() || now.Before(ref) {
		return 0
	}
	return time.Duration(float64(now.Sub(ref)) * 15e-6)
}
