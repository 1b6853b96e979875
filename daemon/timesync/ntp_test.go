package timesync

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/chronytest"
	"github.com/matthan/matthan/daemon/ntp"
)

// offsetClock is the host's clock moved by an offset: it runs at real
// speed, so a real NTP exchange against it makes sense.
type offsetClock struct {
	t   *testing.T
	mu  sync.Mutex
	off time.Duration
	sl  time.Duration
}

func (c *offsetClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *offsetClock) Step(d time.Duration) error {
	if d < 0 {
		c.t.Errorf("stepped back by %v", -d)
	}
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
	return nil
}
func (c *offsetClock) Slew(d time.Duration) error { c.mu.Lock(); c.sl = d; c.mu.Unlock(); return nil }
func (c *offsetClock) Slewing() time.Duration     { c.mu.Lock(); defer c.mu.Unlock(); return c.sl }

// The box boots two years behind; chrony (an independent server on
// 127.0.0.1) gives the time: one step forward, then slews only.
func TestDisciplineWithChrony(t *testing.T) {
	addr := chronytest.Serve(t, func(addr string) bool {
		_, err := (&ntp.Client{Timeout: 300 * time.Millisecond}).Query(context.Background(), addr)
		return err == nil
	})
	clock := &offsetClock{t: t, off: -2 * 365 * 24 * time.Hour}
	dir := t.TempDir()
	d := New(Config{Clock: clock, Syncer: &ntp.Client{Now: clock.Now, Samples: 2, Gap: 10 * time.Millisecond},
		Servers: Servers([]string{addr}, false), DataDir: dir, Logf: t.Logf})
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := d.Status()
	if !st.Synced || st.Steps != 1 || st.Source != SourceNTP || st.Server != addr {
		t.Fatalf("status %+v", st)
	}
	if off := clock.Now().Sub(time.Now()); off < -50*time.Millisecond || off > 50*time.Millisecond {
		t.Errorf("after the step the clock is %v off", off)
	}
	clock.mu.Lock()
	clock.off -= 300 * time.Millisecond
	clock.mu.Unlock()
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Steps != 1 || st.Slewing < 250*time.Millisecond || st.Slewing > 350*time.Millisecond {
		t.Errorf("a 300 ms correction: steps %d slewing %v, want a slew", st.Steps, st.Slewing)
	}
	if u := d.Upstream(); u.Stratum != chronytest.Stratum || u.RefID != [4]byte{127, 0, 0, 1} {
		t.Errorf("upstream %+v", u)
	}
}

// The box serves its clock to cameras with ntp.Server: unsynchronised
// replies until the discipline has synced, then stratum+1.
func TestServeDisciplinedClock(t *testing.T) {
	upstream := startOwnServer(t, &ntp.Server{Synced: func() bool { return true }})
	clock := &offsetClock{t: t, off: -time.Hour}
	d := New(Config{Clock: clock, Syncer: &ntp.Client{Now: clock.Now, Samples: 1}, Servers: Servers([]string{upstream}, false)})
	box := startOwnServer(t, &ntp.Server{Now: clock.Now, Synced: d.Synced, Upstream: d.Upstream})
	if _, err := (&ntp.Client{}).Query(context.Background(), box); err == nil {
		t.Fatal("an unsynchronised box served usable time")
	}
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := (&ntp.Client{}).Query(context.Background(), box)
	if err != nil {
		t.Fatal(err)
	}
	if s.Stratum != 4 || s.Offset < -50*time.Millisecond || s.Offset > 50*time.Millisecond {
		t.Errorf("camera sees stratum %d offset %v, want 4 and ~0", s.Stratum, s.Offset)
	}
}

func startOwnServer(t *testing.T, s *ntp.Server) string {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Serve(ctx, conn)
	t.Cleanup(func() { cancel(); conn.Close() })
	return conn.LocalAddr().String()
}
