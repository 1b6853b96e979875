package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/firmware/bundle"
)

// fakeBox answers the admin page's routes push uses, as webadmin does
// (webadmin/firmware_test.go tests the real ones).
func fakeBox(t *testing.T, refuse bool) (*httptest.Server, *[]byte) {
	var got []byte
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("username") != "tech" || r.PostFormValue("password") != "pw" {
			http.Redirect(w, r, "/login?bad=1", http.StatusSeeOther)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "mt_session", Value: "s"})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"role": "technician", "csrf": "tok"})
	})
	mux.HandleFunc("POST /api/firmware/bundle", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-CSRF-Token") != "tok" {
			w.WriteHeader(403)
			return
		}
		got, _ = io.ReadAll(r.Body)
		if refuse {
			w.WriteHeader(422)
			json.NewEncoder(w).Encode(map[string]string{"error": "Chữ ký của gói cập nhật không hợp lệ / bad signature"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"manifest": bundle.Manifest{Format: 1}})
	})
	mux.HandleFunc("POST /api/firmware/install", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "progress 50%\nprogress 100%\ninstalled v2 counter 2: rebooting\nok\n")
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv, &got
}

func fingerprint(srv *httptest.Server) string {
	sum := sha256.Sum256(srv.Certificate().Raw)
	return hex.EncodeToString(sum[:])
}

func TestPush(t *testing.T) {
	srv, got := fakeBox(t, false)
	file := filepath.Join(t.TempDir(), "matthan.bundle")
	data := bytes.Repeat([]byte("b"), 100000)
	os.WriteFile(file, data, 0o644)
	var out bytes.Buffer
	c, err := Login(context.Background(), Options{Box: srv.URL, User: "tech", Password: "pw", Fingerprint: fingerprint(srv), Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(*got, data) {
		t.Fatalf("box got %d bytes, want %d", len(*got), len(data))
	}
	for _, want := range []string{"upload 100%", "writing 50%", "done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPushRefusals(t *testing.T) {
	srv, _ := fakeBox(t, true)
	ctx := context.Background()
	if _, err := Login(ctx, Options{Box: srv.URL, User: "tech", Password: "pw", Fingerprint: strings.Repeat("00", 32)}); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("wrong fingerprint: %v", err)
	}
	if _, err := Login(ctx, Options{Box: srv.URL, User: "tech", Password: "pw"}); err == nil {
		t.Error("logged in without a fingerprint or -insecure-tls")
	}
	if _, err := Login(ctx, Options{Box: srv.URL, User: "tech", Password: "no", Fingerprint: fingerprint(srv)}); err == nil {
		t.Error("wrong password logged in")
	}
	c, err := Login(ctx, Options{Box: srv.URL, User: "tech", Password: "pw", Fingerprint: fingerprint(srv)})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "x.bundle")
	os.WriteFile(file, []byte("x"), 0o644)
	if _, err := c.Push(ctx, file); err == nil || !strings.Contains(err.Error(), "Chữ ký") {
		t.Errorf("refused bundle: %v", err)
	}
}
