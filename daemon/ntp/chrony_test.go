package ntp

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/chronytest"
)

// answers reports whether an NTP server at addr gives a usable reply.
func answers(addr string) bool {
	_, err := (&Client{Timeout: 300 * time.Millisecond}).Query(context.Background(), addr)
	return err == nil
}

// An independent implementation (chrony) serves; our client reads it.
func TestClientAgainstChrony(t *testing.T) {
	addr := chronytest.Serve(t, answers)
	cl := Client{Samples: 3, Gap: 10 * time.Millisecond, Timeout: 500 * time.Millisecond}
	s, err := cl.Best(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if s.Stratum != chronytest.Stratum {
		t.Errorf("stratum %d, want chrony's local stratum %d", s.Stratum, chronytest.Stratum)
	}
	if s.Offset < -50*time.Millisecond || s.Offset > 50*time.Millisecond {
		t.Errorf("offset to a server on the same clock %v, want ~0", s.Offset)
	}
}

// Our server serves a clock 5 s ahead; chrony, as a client, must see it
// 5 s ahead.
func TestServerAgainstChrony(t *testing.T) {
	const skew = 5 * time.Second
	addr := serve(t, &Server{Now: skewed(skew), Synced: yes})
	_, port, _ := net.SplitHostPort(addr)
	got := chronytest.Measure(t, port)
	if d := got - skew; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("chrony sees our clock off by %v, want %v", got, skew)
	}
}
