// Package boxclient talks to a box's admin page from outside, as a user: an
// HTTP client whose TLS check is a pin on the box's certificate (the
// box's certificate is self-signed; its SHA-256 fingerprint is printed on
// the console and shown on the system page), the form login, the
// session's role and CSRF token from /api/me, and requests that carry the
// token on every change.
//
// The technician's update tool (image/push) and the tests' client
// (hwtest/adminclient) both log in through it.
package boxclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// NewHTTPClient is an HTTP client with a cookie jar that trusts only the
// certificate whose SHA-256 is fingerprint (hex, any case, colons
// allowed); an empty fingerprint trusts any certificate. dial, when not
// nil, opens its connections. Redirects are answered, not followed: the
// login and setup forms answer with one, and its status is what matters.
func NewHTTPClient(fingerprint string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	jar, _ := cookiejar.New(nil)
	tc := &tls.Config{InsecureSkipVerify: true} // replaced by the fingerprint pin
	if fingerprint != "" {
		tc.VerifyConnection = pin(fingerprint)
	}
	return &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 8, DialContext: dial},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func pin(fingerprint string) func(tls.ConnectionState) error {
	want := strings.ToLower(strings.ReplaceAll(fingerprint, ":", ""))
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no certificate")
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if got := hex.EncodeToString(sum[:]); got != want {
			return fmt.Errorf("the box's certificate fingerprint is %s, not %s (check the system page)", got, want)
		}
		return nil
	}
}

// Session is a user logged in on the page (or, with no CSRF token yet,
// a visitor who is not).
type Session struct {
	*http.Client
	Base string // https://HOST:PORT, no trailing slash
	Role string // from /api/me
	CSRF string
}

// Login logs in as user on the page at base through hc and reads the
// session's role and CSRF token.
func Login(ctx context.Context, hc *http.Client, base, user, password string) (*Session, error) {
	s := &Session{Client: hc, Base: strings.TrimRight(base, "/")}
	resp, err := s.PostForm(ctx, "/login", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		return nil, fmt.Errorf("log in as %s: %w", user, err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	// Success is a redirect to the page; a refusal is the login form again.
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(resp.Header.Get("Location"), "login") {
		return nil, fmt.Errorf("log in as %s refused (%s): %s", user, resp.Status, PageError(b))
	}
	var me struct {
		Role string `json:"role"`
		CSRF string `json:"csrf"`
	}
	if err := s.GetJSON(ctx, "/api/me", &me); err != nil {
		return nil, fmt.Errorf("log in as %s: %w", user, err)
	}
	s.Role, s.CSRF = me.Role, me.CSRF
	return s, nil
}

// NewRequest is a request to path on the page; a change (anything but
// GET/HEAD) carries the session's CSRF token.
func (s *Session) NewRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.Base+path, body)
	if err != nil {
		return nil, err
	}
	if method != http.MethodGet && method != http.MethodHead && s.CSRF != "" {
		req.Header.Set("X-CSRF-Token", s.CSRF)
	}
	return req, nil
}

// Do sends a request to path; body (if not nil) goes as JSON.
func (s *Session) Do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := s.NewRequest(ctx, method, path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return s.Client.Do(req)
}

// PostForm POSTs the form v to path.
func (s *Session) PostForm(ctx context.Context, path string, v url.Values) (*http.Response, error) {
	req, err := s.NewRequest(ctx, http.MethodPost, path, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.Client.Do(req)
}

// GetJSON GETs path and decodes a 200 answer (at most 16 MiB) into v.
func (s *Session) GetJSON(ctx context.Context, path string, v any) error {
	resp, err := s.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

var pageErrorRE = regexp.MustCompile(`class="error"[^>]*>([^<]+)`)

// PageError picks the error message out of a page's HTML, or gives the
// start of the text.
func PageError(b []byte) string {
	if m := pageErrorRE.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return string(b[:min(len(b), 300)])
}
