package box

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestCameraNetworkGuardOnAdminPage: with "lo" standing for the camera
// interface, a connection over loopback is closed before the page sees
// it; with another interface it is served.
func TestCameraNetworkGuardOnAdminPage(t *testing.T) {
	for _, tt := range []struct {
		iface  string
		served bool
	}{{"lo", false}, {"", true}, {"cnet-none0", true}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g := guardCameraNet(ln, tt.iface, slog.New(slog.NewTextHandler(io.Discard, nil)))
		got := make(chan bool, 1)
		go func() {
			c, err := g.Accept()
			if err == nil {
				c.Close()
			}
			got <- err == nil
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		served := false
		select {
		case served = <-got:
		case <-time.After(500 * time.Millisecond):
		}
		c.Close()
		g.Close()
		if served != tt.served {
			t.Errorf("camera interface %q: served %v, want %v", tt.iface, served, tt.served)
		}
	}
}
