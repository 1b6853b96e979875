package ntp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/positive"
)

// Sample is one server's answer, measured against the local clock.
type Sample struct {
	Server string // as asked (host or host:port)
	Addr   net.Addr
	// Offset is how far the server's clock is ahead of ours (negative:
	// we are ahead); Delay is the round trip minus the server's time.
	Offset, Delay time.Duration
	Stratum       uint8
	RefID         [4]byte
	// RootDelay and RootDispersion, as the server reported them.
	RootDelay, RootDispersion time.Duration
	Leap                      uint8
	// Local is the local clock's reading when the reply arrived.
	Local time.Time
}

// Dialer opens the socket a query uses; nil means a plain UDP socket.
// Tests and the box (to bind the uplink) may replace it.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// Client queries NTP servers.
type Client struct {
	// Now is the local clock; nil means time.Now. Its monotonic reading
	// (if any) measures the round trip.
	Now func() time.Time
	// Timeout per request; zero means 2 s.
	Timeout time.Duration
	// Samples per server (the one with the smallest delay is kept); zero
	// means 4.
	Samples int
	// Gap between a server's samples; zero means 200 ms.
	Gap time.Duration
	// Dial opens the UDP socket to a server; nil means net.Dialer.
	Dial Dialer
}

// DefaultPort is NTP's UDP port.
const DefaultPort = "123"

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Query sends one request to server (host or host:port) and returns the
// measured sample, or an error for no answer or an unusable one (see
// Packet.Validate).
func (c *Client) Query(ctx context.Context, server string) (Sample, error) {
	addr := server
	if _, _, err := net.SplitHostPort(server); err != nil {
		addr = net.JoinHostPort(server, DefaultPort)
	}
	ctx, cancel := context.WithTimeout(ctx, positive.Or(c.Timeout, 2*time.Second))
	defer cancel()
	dial := c.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "udp", addr)
	if err != nil {
		return Sample{}, fmt.Errorf("ntp: query %s: %w", server, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	// The transmit timestamp we send is random (RFC 5905 §9.1 suggests
	// it): it tells nothing of our clock and an off-path attacker cannot
	// guess the origin the reply must echo.
	var nonce [8]byte
	rand.Read(nonce[:])
	origin := Timestamp(binary.BigEndian.Uint64(nonce[:]))
	req := Packet{Version: 4, Mode: ModeClient, Transmit: origin}
	t1 := c.now()
	if _, err := conn.Write(req.Append(nil)); err != nil {
		return Sample{}, fmt.Errorf("ntp: query %s: %w", server, err)
	}
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		t4 := c.now()
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return Sample{}, fmt.Errorf("ntp: query %s: %w", server, err)
		}
		p, err := Decode(buf[:n])
		if err != nil {
			continue
		}
		if err := p.Validate(origin); errors.Is(err, ErrBogus) {
			continue // not the reply to this request (a late or forged one)
		} else if err != nil {
			return Sample{}, fmt.Errorf("ntp: query %s: %w", server, err)
		}
		elapsed := t4.Sub(t1)
		t2, t3 := p.Receive.Time(), p.Transmit.Time()
		held := t3.Sub(t2)
		if held < 0 || held > elapsed {
			return Sample{}, fmt.Errorf("ntp: query %s: %w (server held it %v in a round trip of %v)", server, ErrBogus, held, elapsed)
		}
		// offset = ((t2 - t1) + (t3 - t4)) / 2, with t4 = t1 + elapsed.
		off := t2.Sub(t1)/2 + t3.Sub(t1.Add(elapsed))/2
		return Sample{
			Server: server, Addr: conn.RemoteAddr(),
			Offset: off, Delay: elapsed - held,
			Stratum: p.Stratum, RefID: p.RefID, Leap: p.Leap,
			RootDelay: p.RootDelay.Duration(), RootDispersion: p.RootDispersion.Duration(),
			Local: t4,
		}, nil
	}
}

// Best asks one server Samples times and returns the sample with the
// smallest round trip (the least disturbed by queues on the path).
func (c *Client) Best(ctx context.Context, server string) (Sample, error) {
	n, gap := positive.Or(c.Samples, 4), positive.Or(c.Gap, 200*time.Millisecond)
	var best Sample
	var errs []error
	ok := false
	for i := range n {
		if i > 0 {
			select {
			case <-ctx.Done():
				return best, ctx.Err()
			case <-time.After(gap):
			}
		}
		s, err := c.Query(ctx, server)
		if err != nil {
			errs = append(errs, err)
			var ne net.Error
			if errors.Is(err, ErrKiss) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				break // told to go away, or no answer: do not ask again this round
			}
			continue
		}
		if !ok || s.Delay < best.Delay {
			best, ok = s, true
		}
	}
	if !ok {
		return Sample{}, errors.Join(errs...)
	}
	return best, nil
}

// Result is the client's answer from several servers.
type Result struct {
	// Sample is the chosen sample: the median offset among the servers
	// that agree (its Offset is the correction to apply).
	Sample
	// Agreeing is how many servers agreed with it; Asked how many were
	// asked.
	Agreeing, Asked int
	// Errors are the servers that gave no usable answer.
	Errors []error
}

// ErrNoServer is returned when no server gave a usable answer, or no
// majority of those that did agreed.
var ErrNoServer = errors.New("ntp: no usable server")

// Sync asks every server (in parallel, Samples each) and returns the
// sample whose offset is the median of the servers' best samples. Servers
// whose offset is further than their delay plus agreeWindow from that
// median (falsetickers) are left out, and the median is taken again; when
// fewer than half of the answering servers agree, Sync fails.
func (c *Client) Sync(ctx context.Context, servers []string) (Result, error) {
	res := Result{Asked: len(servers)}
	if len(servers) == 0 {
		return res, fmt.Errorf("%w: none configured", ErrNoServer)
	}
	samples := make([]Sample, len(servers))
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() { samples[i], errs[i] = c.Best(ctx, srv) })
	}
	wg.Wait()
	var good []Sample
	for i := range servers {
		if errs[i] != nil {
			res.Errors = append(res.Errors, errs[i])
			continue
		}
		good = append(good, samples[i])
	}
	if len(good) == 0 {
		return res, fmt.Errorf("%w: %w", ErrNoServer, errors.Join(res.Errors...))
	}
	med := median(good)
	var agree []Sample
	for _, s := range good {
		d := s.Offset - med.Offset
		if d < 0 {
			d = -d
		}
		if d <= s.Delay+med.Delay+agreeWindow {
			agree = append(agree, s)
		}
	}
	if 2*len(agree) <= len(good) && len(good) > 1 {
		return res, fmt.Errorf("%w: the %d answering servers disagree", ErrNoServer, len(good))
	}
	res.Sample = median(agree)
	res.Agreeing = len(agree)
	return res, nil
}

// agreeWindow is how far (beyond the round trips) servers' offsets may lie
// apart and still count as agreeing.
const agreeWindow = 100 * time.Millisecond

// median returns the sample with the median offset (the lower one of the
// middle two, preferring the smaller delay on ties).
func median(s []Sample) Sample {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b Sample) int {
		if a.Offset != b.Offset {
			return cmpDur(a.Offset, b.Offset)
		}
		return cmpDur(a.Delay, b.Delay)
	})
	return s[(len(s)-1)/2]
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// RefIDString shows a reference ID: four letters, or an IPv4 address.
func RefIDString(id [4]byte, stratum uint8) string {
	if stratum <= 1 {
		b := make([]byte, 0, 4)
		for _, c := range id {
			if c >= 0x20 && c <= 0x7e {
				b = append(b, c)
			}
		}
		return string(b)
	}
	return net.IP(id[:]).String()
}
