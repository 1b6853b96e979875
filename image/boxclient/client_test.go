package boxclient

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// box answers /login, /api/me and a change as the page does (the real
// ones are tested in webadmin; push and the box tests use this package
// against them).
func box(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("username") != "kythuat" || r.PostFormValue("password") != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `<p class="error" role="alert">Sai tên hoặc mật khẩu</p>`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "mt_session", Value: "s"})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("mt_session"); err != nil || c.Value != "s" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"role":"technician","csrf":"tok"}`)
	})
	mux.HandleFunc("/api/change", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %q %q", r.Method, r.Header.Get("X-CSRF-Token"), r.Header.Get("Content-Type"))
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestLogin(t *testing.T) {
	srv := box(t)
	sum := sha256.Sum256(srv.Certificate().Raw)
	right := fmt.Sprintf("% X", sum[:])
	right = strings.ReplaceAll(right, " ", ":")
	for _, tt := range []struct {
		name, fingerprint, password string
		wantErr                     string
	}{
		{"pinned, colons, upper case", right, "pw", ""},
		{"pinned, plain lower case", strings.ToLower(strings.ReplaceAll(right, ":", "")), "pw", ""},
		{"no pin", "", "pw", ""},
		{"wrong certificate", strings.Repeat("00", 32), "pw", "fingerprint"},
		{"wrong password", right, "no", "Sai tên hoặc mật khẩu"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Login(context.Background(), NewHTTPClient(tt.fingerprint, nil), srv.URL+"/", "kythuat", tt.password)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Role != "technician" || s.CSRF != "tok" || s.Base != srv.URL {
				t.Fatalf("session %+v", s)
			}
		})
	}
}

func TestCSRFOnChanges(t *testing.T) {
	srv := box(t)
	s, err := Login(context.Background(), NewHTTPClient("", nil), srv.URL, "kythuat", "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method string
		body   any
		want   string
	}{
		{http.MethodGet, nil, `GET "" ""`},
		{http.MethodPost, map[string]int{"a": 1}, `POST "tok" "application/json"`},
		{http.MethodDelete, nil, `DELETE "tok" ""`},
	} {
		resp, err := s.Do(context.Background(), tt.method, "/api/change", tt.body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tt.want {
			t.Errorf("%s: the page saw %s, want %s", tt.method, b, tt.want)
		}
	}
}
