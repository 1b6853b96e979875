package ntp

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// serve starts s on a fresh 127.0.0.1 socket and returns its address.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve returned %v, want context.Canceled", err)
		}
		conn.Close()
	})
	return conn.LocalAddr().String()
}

func skewed(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }

func yes() bool { return true }

func TestClientServerOffset(t *testing.T) {
	for _, skew := range []time.Duration{0, 10 * time.Second, -3 * time.Hour, 40 * 365 * 24 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			addr := serve(t, &Server{Now: skewed(skew), Synced: yes})
			c := Client{Samples: 3, Gap: time.Millisecond}
			s, err := c.Best(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Offset - skew; d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("offset %v, want %v ± 50 ms", s.Offset, skew)
			}
			if s.Delay < 0 || s.Delay > time.Second {
				t.Errorf("delay %v", s.Delay)
			}
			if s.Stratum != 3 || s.Leap != LeapNone {
				t.Errorf("stratum %d leap %d, want 3 and 0", s.Stratum, s.Leap)
			}
		})
	}
}

func TestServerUnsynced(t *testing.T) {
	addr := serve(t, &Server{Synced: func() bool { return false }})
	c := Client{Samples: 1}
	_, err := c.Query(context.Background(), addr)
	if !errors.Is(err, ErrUnsynced) {
		t.Fatalf("query of an unsynchronised box: %v, want ErrUnsynced", err)
	}
	// The raw reply still carries the box's time, for simple clients.
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := Packet{Version: 3, Mode: ModeClient, Transmit: 42}
	conn.Write(req.Append(nil))
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := Decode(buf[:n])
	if p.Leap != LeapAlarm || p.Stratum != StratumUnsynced || p.Version != 3 || p.Origin != 42 {
		t.Errorf("reply %+v", p)
	}
	if d := time.Since(p.Transmit.Time()); d < -time.Second || d > time.Second {
		t.Errorf("transmit time %v is not now", p.Transmit.Time())
	}
}

func TestServerUpstream(t *testing.T) {
	ref := time.Now().Add(-time.Minute)
	addr := serve(t, &Server{Synced: yes, Upstream: func() Upstream {
		return Upstream{Stratum: 2, RefID: [4]byte{10, 0, 2, 2}, RootDelay: 20 * time.Millisecond, RootDispersion: 5 * time.Millisecond, Reference: ref}
	}})
	s, err := (&Client{}).Query(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if s.Stratum != 3 || RefIDString(s.RefID, s.Stratum) != "10.0.2.2" {
		t.Errorf("stratum %d refid %s", s.Stratum, RefIDString(s.RefID, s.Stratum))
	}
	if s.RootDelay < 19*time.Millisecond || s.RootDispersion < 5*time.Millisecond || s.RootDispersion > 10*time.Millisecond {
		t.Errorf("root delay %v dispersion %v", s.RootDelay, s.RootDispersion)
	}
}

// The server ignores what is not a client request and keeps serving.
func TestServerIgnoresJunk(t *testing.T) {
	addr := serve(t, &Server{Synced: yes})
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, junk := range [][]byte{{}, {0x1b}, make([]byte, 48), make([]byte, 2000), (&Packet{Version: 4, Mode: ModeServer}).Append(nil)} {
		conn.Write(junk)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 100)); err == nil {
		t.Fatalf("junk answered with %d bytes", n)
	}
	if _, err := (&Client{}).Query(context.Background(), addr); err != nil {
		t.Fatalf("server dead after junk: %v", err)
	}
}

func TestSync(t *testing.T) {
	a := serve(t, &Server{Now: skewed(2 * time.Second), Synced: yes})
	b := serve(t, &Server{Now: skewed(2*time.Second + 10*time.Millisecond), Synced: yes})
	c := serve(t, &Server{Now: skewed(2*time.Second - 10*time.Millisecond), Synced: yes})
	liar := serve(t, &Server{Now: skewed(-time.Hour), Synced: yes})
	unsynced := serve(t, &Server{Synced: func() bool { return false }})
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	cl := Client{Samples: 2, Gap: time.Millisecond, Timeout: 300 * time.Millisecond}
	res, err := cl.Sync(context.Background(), []string{a, liar, b, unsynced, silent.LocalAddr().String(), c})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Offset - 2*time.Second; d < -60*time.Millisecond || d > 60*time.Millisecond {
		t.Errorf("offset %v, want 2 s", res.Offset)
	}
	if res.Agreeing != 3 || res.Asked != 6 || len(res.Errors) != 2 {
		t.Errorf("agreeing %d asked %d errors %v", res.Agreeing, res.Asked, res.Errors)
	}
	if res.Server == liar {
		t.Error("chose the falseticker")
	}

	// Two servers that disagree: no majority.
	if _, err := cl.Sync(context.Background(), []string{a, liar}); !errors.Is(err, ErrNoServer) {
		t.Errorf("two disagreeing servers: %v, want ErrNoServer", err)
	}
	if _, err := cl.Sync(context.Background(), []string{unsynced}); !errors.Is(err, ErrNoServer) {
		t.Errorf("only an unsynchronised server: %v, want ErrNoServer", err)
	}
}

// A kiss-o'-death stops the asking at once.
func TestKissOfDeath(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	asked := make(chan int, 1)
	go func() {
		buf := make([]byte, 100)
		n := 0
		for {
			conn.SetReadDeadline(time.Now().Add(time.Second))
			k, addr, err := conn.ReadFrom(buf)
			if err != nil {
				asked <- n
				return
			}
			n++
			q, _ := Decode(buf[:k])
			p := Packet{Version: 4, Mode: ModeServer, Stratum: 0, RefID: [4]byte{'R', 'A', 'T', 'E'}, Origin: q.Transmit}
			conn.WriteTo(p.Append(nil), addr)
		}
	}()
	cl := Client{Samples: 4, Gap: time.Millisecond}
	if _, err := cl.Best(context.Background(), conn.LocalAddr().String()); !errors.Is(err, ErrKiss) {
		t.Errorf("Best = %v, want ErrKiss", err)
	}
	if n := <-asked; n != 1 {
		t.Errorf("asked %d times after a kiss-o'-death, want 1", n)
	}
}

// A server that does not answer is asked once per round, not Samples times.
func TestSilentServerAskedOnce(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := Client{Samples: 4, Gap: time.Millisecond, Timeout: 100 * time.Millisecond}
	if _, err := cl.Best(context.Background(), conn.LocalAddr().String()); err == nil {
		t.Fatal("a silent server answered")
	}
	n := 0
	buf := make([]byte, 100)
	for {
		conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := conn.ReadFrom(buf); err != nil {
			break
		}
		n++
	}
	if n != 1 {
		t.Errorf("asked %d times, want 1", n)
	}
}
