// Package adminclient logs tests into matthand's admin page: it reads the
// first-boot setup code and certificate fingerprint from the daemon's
// stderr or the serial console, creates the technician account with the
// code, has the technician create an officer, logs in as that officer and
// returns an *http.Client for the API (session cookie, CSRF header on every
// change, TLS pinned to the printed fingerprint).
//
// It is for tests only: the TLS check is a fingerprint pin, not a
// certificate chain (the box's certificate is self-signed).
package adminclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
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
	"time"
)

var (
	setupRE = regexp.MustCompile(`setup code: ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})`)
	fpRE    = regexp.MustCompile(`certificate SHA-256: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})`)
	adminRE = regexp.MustCompile(`admin page: (https://\S+?)/? `)
)

// SetupCode finds the last setup code in console or log text ("" if none).
func SetupCode(text string) string { return last(setupRE, text) }

// Fingerprint finds the last certificate fingerprint in the text.
func Fingerprint(text string) string { return last(fpRE, text) }

// AdminURL finds the last admin page address in the text (its host may be
// "<box-ip>" when the daemon listens on every address).
func AdminURL(text string) string { return last(adminRE, text) }

func last(re *regexp.Regexp, text string) string {
	m := re.FindAllStringSubmatch(text, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// Account is a user name and password.
type Account struct{ Name, Password string }

// Defaults the tests use.
var (
	Technician = Account{"kythuat", "mat-khau-ky-thuat-1"}
	Officer    = Account{"canbo", "mat-khau-can-bo-1"}
)

// Client is a logged-in session on the admin page.
type Client struct {
	*http.Client
	Base string // https://HOST:PORT, no trailing slash
	CSRF string
}

// DialContext, when set, opens every client's connections (tests whose
// box runs in a network namespace dial from there).
var DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

// NewHTTPClient is an HTTP client with a cookie jar that trusts only a
// certificate with the given SHA-256 fingerprint ("AA:BB:..."); empty
// trusts any certificate (tests that did not see the fingerprint).
func NewHTTPClient(fingerprint string) *http.Client {
	jar, _ := cookiejar.New(nil)
	want := strings.ToUpper(strings.ReplaceAll(fingerprint, ":", ""))
	tc := &tls.Config{
		InsecureSkipVerify: true, // replaced by the fingerprint pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if want == "" {
				return nil
			}
			if len(raw) == 0 {
				return errors.New("adminclient: no certificate")
			}
			sum := sha256.Sum256(raw[0])
			if fmt.Sprintf("%X", sum[:]) != want {
				return fmt.Errorf("adminclient: certificate fingerprint %X, want %s", sum[:], fingerprint)
			}
			return nil
		},
	}
	return &http.Client{
		Jar:       jar,
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 8, DialContext: DialContext},
		// The login and setup forms answer with redirects to pages: stop
		// there, the status is what matters.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// FirstBoot creates the technician with the setup code (skipped when the
// box says setup is done), creates the officer as the technician, and
// returns the officer's session.
func FirstBoot(ctx context.Context, base, setupCode, fingerprint string) (*Client, error) {
	base = strings.TrimRight(base, "/")
	var health struct {
		SetupNeeded bool `json:"setupNeeded"`
	}
	anon := &Client{Client: NewHTTPClient(fingerprint), Base: base}
	if err := anon.GetJSON(ctx, "/api/health", &health); err != nil {
		return nil, err
	}
	if health.SetupNeeded {
		if setupCode == "" {
			return nil, errors.New("adminclient: the box needs setup but no setup code was found")
		}
		if err := anon.form(ctx, "/setup", url.Values{"code": {setupCode}, "username": {Technician.Name},
			"password": {Technician.Password}, "password2": {Technician.Password}}, http.StatusOK); err != nil {
			return nil, fmt.Errorf("first-boot setup: %w", err)
		}
	}
	tech, err := Login(ctx, base, fingerprint, Technician)
	if err != nil {
		return nil, err
	}
	body := map[string]string{"name": Officer.Name, "password": Officer.Password, "role": "officer"}
	resp, err := tech.Do(ctx, http.MethodPost, "/api/users", body)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// An officer made by an earlier run is fine (a restarted daemon): the
	// technician may then no longer create officers (err_officer_exists).
	exists := resp.StatusCode == http.StatusConflict ||
		resp.StatusCode == http.StatusForbidden && bytes.Contains(b, []byte(`"err_officer_exists"`))
	if resp.StatusCode/100 != 2 && !exists {
		return nil, fmt.Errorf("create officer: %s %s", resp.Status, b)
	}
	return Login(ctx, base, fingerprint, Officer)
}

// Login logs in as acc and reads the session's CSRF token.
func Login(ctx context.Context, base, fingerprint string, acc Account) (*Client, error) {
	c := &Client{Client: NewHTTPClient(fingerprint), Base: strings.TrimRight(base, "/")}
	if err := c.form(ctx, "/login", url.Values{"username": {acc.Name}, "password": {acc.Password}}, http.StatusSeeOther); err != nil {
		return nil, fmt.Errorf("login as %s: %w", acc.Name, err)
	}
	var me struct {
		Role string `json:"role"`
		CSRF string `json:"csrf"`
	}
	if err := c.GetJSON(ctx, "/api/me", &me); err != nil {
		return nil, fmt.Errorf("login as %s: %w", acc.Name, err)
	}
	c.CSRF = me.CSRF
	return c, nil
}

func (c *Client) form(ctx context.Context, path string, v url.Values, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST %s: %s (want %d): %s", path, resp.Status, want, pageError(b))
	}
	return nil
}

// pageError picks the error message out of an HTML page, or the start of it.
func pageError(b []byte) string {
	if m := regexp.MustCompile(`class="error"[^>]*>([^<]+)`).FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return string(b[:min(len(b), 300)])
}

// Do sends a request to path; body (if not nil) goes as JSON, and a change
// (anything but GET/HEAD) carries the CSRF token.
func (c *Client) Do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet && method != http.MethodHead && c.CSRF != "" {
		req.Header.Set("X-CSRF-Token", c.CSRF)
	}
	return c.Client.Do(req)
}

// GetJSON GETs path and decodes a 200 answer into v.
func (c *Client) GetJSON(ctx context.Context, path string, v any) error {
	resp, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// Export is one signed export as the box handed it out.
type Export struct {
	Clip, Manifest, Signature []byte
	File                      string // the clip's file name
}

// Export asks the page for a signed export of camera's [from, to)
// (POST /api/exports, the officer's audited path) and downloads the clip,
// manifest.json and manifest.sig.
func (c *Client) Export(ctx context.Context, camera string, from, to time.Time) (Export, error) {
	var ex Export
	form := url.Values{"camera": {camera}, "from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/api/exports", strings.NewReader(form.Encode()))
	if err != nil {
		return ex, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", c.CSRF)
	resp, err := c.Client.Do(req)
	if err != nil {
		return ex, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ex, fmt.Errorf("export %s %s..%s: %s %s", camera, from.Format(time.RFC3339), to.Format(time.RFC3339), resp.Status, b)
	}
	var res struct {
		Manifest                         struct{ File string }
		Video, ManifestURL, SignatureURL string
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return ex, fmt.Errorf("export: %w", err)
	}
	ex.File = res.Manifest.File
	for _, d := range []struct {
		path string
		to   *[]byte
	}{{res.Video, &ex.Clip}, {res.ManifestURL, &ex.Manifest}, {res.SignatureURL, &ex.Signature}} {
		resp, err := c.Do(ctx, http.MethodGet, d.path, nil)
		if err != nil {
			return ex, err
		}
		*d.to, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return ex, fmt.Errorf("GET %s: %s %v", d.path, resp.Status, err)
		}
	}
	return ex, nil
}
