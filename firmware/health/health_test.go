package health

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/health" {
			w.WriteHeader(404)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})}
	go srv.Serve(l)
	defer srv.Close()
	for _, tt := range []struct {
		path string
		want int
	}{{"/api/health", 200}, {"/nope", 404}} {
		got, err := Check(l.Addr().String(), tt.path, 2*time.Second)
		if err != nil || got != tt.want {
			t.Errorf("Check(%s) = %d, %v; want %d", tt.path, got, err, tt.want)
		}
	}
	code, body, err := Get(l.Addr().String(), "/api/health", 2*time.Second)
	if err != nil || code != 200 || string(body) != `{"ok":true}` {
		t.Errorf("Get = %d %q %v; want 200 and the body", code, body, err)
	}
	if _, err := Check("127.0.0.1:1", "/", time.Second); err == nil {
		t.Error("Check on a closed port succeeded")
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\n")
	f.Add("HTTP/1.0 404\r\n")
	f.Add("SSH-2.0-OpenSSH\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseStatus(bufio.NewReader(strings.NewReader(s)))
		if err == nil && (n < 100 || n > 999) {
			t.Fatalf("accepted status %d", n)
		}
	})
}
