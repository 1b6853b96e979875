package box

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/netlimit"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/matthan/matthan/webadmin"
)

// closedWithin says whether the server closes c within d (reading
// whatever it sends meanwhile).
func closedWithin(c net.Conn, d time.Duration) bool {
	if c == nil {
		return true
	}
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnectionTimeoutsAndCaps: every connection of both listeners has a
// handshake, read and idle timeout, and the connections are capped in total
// and per address, a refused one closed at once (before TLS). Before: only
// a 10 s header timeout, so these connections stayed open for good.
func TestConnectionTimeoutsAndCaps(t *testing.T) {
	cfg, err := config.FromArgs([]string{"-data", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	to := webadmin.Timeouts{Handshake: 1500 * time.Millisecond, Read: 2 * time.Second, Write: 2 * time.Second, Idle: 1500 * time.Millisecond}
	_, httpsBase, httpBase := startDaemonWith(t, cfg, Options{Timeouts: to})
	httpsAddr := strings.TrimPrefix(httpsBase, "https://")
	tlsConf := &tls.Config{InsecureSkipVerify: true}

	t.Run("caps", func(t *testing.T) {
		cfg, err := config.FromArgs([]string{"-data", t.TempDir()}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		// Default timeouts here: nothing times out during the test.
		_, httpsBase, httpBase := startDaemonWith(t, cfg, Options{Conns: netlimit.Limits{Total: 24, PerAddr: 4}})
		// Per address: 4 from 127.0.0.5, the 5th closed at once, on
		// either listener (they share the cap).
		for i := range 4 {
			base := httpsBase
			if i%2 == 1 {
				base = httpBase
			}
			if c := testenv.DialFrom(t, "127.0.0.5", base); closedWithin(c, 200*time.Millisecond) {
				t.Fatalf("connection %d from 127.0.0.5 closed, want open", i+1)
			}
		}
		if c := testenv.DialFrom(t, "127.0.0.5", httpsBase); !closedWithin(c, 3*time.Second) {
			t.Fatal("5th connection from 127.0.0.5 stays open: no per-address cap")
		}
		// Another address still gets a whole HTTPS answer.
		if c := testenv.DialFrom(t, "127.0.0.6", httpsBase); c != nil {
			tc := tls.Client(c, tlsConf)
			fmt.Fprintf(tc, "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("health from 127.0.0.6 beside a capped address: %v %v", err, resp)
			}
			c.Close()
		}
		// In total: 4 from each of 127.0.0.11-15 fill the remaining 20 of 24.
		time.Sleep(time.Second) // the close above gives its slot back
		for a := 11; a <= 15; a++ {
			for range 4 {
				if c := testenv.DialFrom(t, fmt.Sprintf("127.0.0.%d", a), httpsBase); closedWithin(c, 50*time.Millisecond) {
					t.Fatalf("connection from 127.0.0.%d closed before the total cap", a)
				}
			}
		}
		if c := testenv.DialFrom(t, "127.0.0.20", httpsBase); !closedWithin(c, 3*time.Second) {
			t.Fatal("connection 25 stays open: no total cap")
		}
	})
	t.Run("handshake timeout", func(t *testing.T) {
		c := testenv.DialFrom(t, "127.0.0.30", httpsBase)
		t0 := time.Now()
		if !closedWithin(c, 4*time.Second) {
			t.Fatal("a connection that never starts TLS stays open")
		}
		t.Logf("closed after %v", time.Since(t0).Round(time.Millisecond))
	})
	t.Run("slow body", func(t *testing.T) {
		raw := testenv.DialFrom(t, "127.0.0.31", httpsAddr)
		c := tls.Client(raw, tlsConf)
		if err := c.Handshake(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
		t0 := time.Now()
		for time.Since(t0) < 6*time.Second {
			if _, err := c.Write([]byte("a")); err != nil {
				t.Logf("cut after %v", time.Since(t0).Round(time.Millisecond))
				return
			}
			raw.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil {
				var ne net.Error
				if !(errors.As(err, &ne) && ne.Timeout()) {
					t.Logf("cut after %v", time.Since(t0).Round(time.Millisecond))
					return
				}
			}
			raw.SetReadDeadline(time.Time{})
		}
		t.Fatal("a body sent one byte every 200 ms is still read after 6 s")
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		for _, base := range []string{httpBase, httpsBase} {
			raw := testenv.DialFrom(t, "127.0.0.32", base)
			var c net.Conn = raw
			if strings.HasPrefix(base, "https") {
				c = tls.Client(raw, tlsConf)
			}
			fmt.Fprintf(c, "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s health: %v %v", base, err, resp)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			raw.SetReadDeadline(time.Now().Add(4 * time.Second))
			_, err = br.ReadByte()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("%s: an idle keep-alive connection stays open", base)
			}
		}
	})
}

// TestHeadersAndRedirect: every response carries the security headers
// (the daemon's own routes and the plain-HTTP listener too), and the
// redirect to HTTPS names the address the connection arrived on, never
// the Host header.
func TestHeadersAndRedirect(t *testing.T) {
	cfg, err := config.FromArgs([]string{"-data", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, httpsBase, httpBase := startDaemon(t, cfg)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, u := range []string{httpsBase + "/api/daemon/cameras", httpsBase + "/api/lights", httpsBase + "/api/health",
		httpsBase + "/nope", httpBase + "/api/health", httpBase + "/live"} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s (%s): no %s", u, resp.Status, h)
			}
		}
	}
	req, _ := http.NewRequest("GET", httpBase+"/live?x=1", nil)
	req.Host = "evil.example:8443"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != httpsBase+"/live?x=1" {
		t.Errorf("redirect with Host evil.example: Location %q, want %q", loc, httpsBase+"/live?x=1")
	}
}
