// Package adminclient logs tests into matthand's admin page: it reads the
// first-boot setup code and certificate fingerprint from the daemon's
// stderr or the serial console, creates the technician account with the
// code, has the technician create an officer, logs in as that officer and
// returns its session (webadmin/client's: session cookie, CSRF header on
// every change, TLS pinned to the printed fingerprint).
//
// It is for tests only; the login itself is webadmin/client, which the
// technician's tools use too.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/matthan/matthan/image/boxclient"
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

// Client is a session on the admin page.
type Client struct{ *boxclient.Session }

// DialContext, when set, opens every client's connections (tests whose
// box runs in a network namespace dial from there).
var DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

// NewHTTPClient is webadmin/client's pinned HTTP client ("AA:BB:..."; empty
// trusts any certificate: tests that did not see the fingerprint), dialing
// through DialContext, with a 2-minute timeout on every request.
func NewHTTPClient(fingerprint string) *http.Client {
	hc := boxclient.NewHTTPClient(fingerprint, DialContext)
	hc.Timeout = 2 * time.Minute
	return hc
}

// FirstBoot creates the technician with the setup code (skipped when the
// box says setup is done), creates the officer as the technician, and
// returns the officer's session.
func FirstBoot(ctx context.Context, base, setupCode, fingerprint string) (*Client, error) {
	base = strings.TrimRight(base, "/")
	var health struct {
		SetupNeeded bool `json:"setupNeeded"`
	}
	anon := &boxclient.Session{Client: NewHTTPClient(fingerprint), Base: base}
	if err := anon.GetJSON(ctx, "/api/health", &health); err != nil {
		return nil, err
	}
	if health.SetupNeeded {
		if setupCode == "" {
			return nil, errors.New("adminclient: the box needs setup but no setup code was found")
		}
		resp, err := anon.PostForm(ctx, "/setup", url.Values{"code": {setupCode}, "username": {Technician.Name},
			"password": {Technician.Password}, "password2": {Technician.Password}})
		if err != nil {
			return nil, fmt.Errorf("first-boot setup: %w", err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("first-boot setup: %s: %s", resp.Status, boxclient.PageError(b))
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
	s, err := boxclient.Login(ctx, NewHTTPClient(fingerprint), base, acc.Name, acc.Password)
	if err != nil {
		return nil, err
	}
	return &Client{s}, nil
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
	resp, err := c.PostForm(ctx, "/api/exports", form)
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
