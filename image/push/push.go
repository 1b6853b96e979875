// Package push sends a signed firmware bundle to a running box over its
// admin page, as the technician: log in, upload the bundle (the box
// checks it as it arrives and answers its manifest), confirm, and follow
// the install's progress until the box restarts into the new slot. The
// box's HTTPS certificate is its own (self-signed): push pins its SHA-256
// fingerprint, shown on the box's system page.
package push

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/matthan/matthan/firmware/bundle"
)

// Options say where and as whom.
type Options struct {
	Box      string // https://HOST[:PORT]
	User     string
	Password string
	// Fingerprint is the hex SHA-256 of the box's certificate (colons
	// allowed). Empty only with InsecureTLS.
	Fingerprint string
	InsecureTLS bool
	// Confirm is asked with the manifest before installing; nil installs.
	Confirm func(m *bundle.Manifest) bool
	// Progress gets one line per step and progress percentages.
	Progress io.Writer
}

// Client is a logged-in technician.
type Client struct {
	o    Options
	http *http.Client
	csrf string
}

func pinned(fp string) func(tls.ConnectionState) error {
	want := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
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

// Login logs in as the technician.
func Login(ctx context.Context, o Options) (*Client, error) {
	if o.Fingerprint == "" && !o.InsecureTLS {
		return nil, errors.New("push: the box's certificate fingerprint is needed (system page), or -insecure-tls")
	}
	tc := &tls.Config{InsecureSkipVerify: true} // the box's certificate is self-signed: pinned below
	if o.Fingerprint != "" {
		tc.VerifyConnection = pinned(o.Fingerprint)
	}
	jar, _ := cookiejar.New(nil)
	c := &Client{o: o, http: &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: tc},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	form := url.Values{"username": {o.User}, "password": {o.Password}}
	req, _ := http.NewRequestWithContext(ctx, "POST", o.Box+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("push: log in: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(resp.Header.Get("Location"), "login") {
		return nil, fmt.Errorf("push: log in as %s refused (status %d)", o.User, resp.StatusCode)
	}
	var me struct {
		Role string `json:"role"`
		CSRF string `json:"csrf"`
	}
	if err := c.getJSON(ctx, "/api/me", &me); err != nil {
		return nil, err
	}
	if me.Role != "technician" {
		return nil, fmt.Errorf("push: %s is %s; only a technician updates the firmware", o.User, me.Role)
	}
	c.csrf = me.CSRF
	return c, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", c.o.Box+path, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("push: %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("push: %s: status %d", path, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

func (c *Client) logf(format string, args ...any) {
	if c.o.Progress != nil {
		fmt.Fprintf(c.o.Progress, format+"\n", args...)
	}
}

// progressReader prints every 5 %.
type progressReader struct {
	r        io.Reader
	n, total int64
	last     int64
	c        *Client
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if pct := p.n * 100 / max(p.total, 1); pct/5 != p.last/5 || p.n == p.total && pct != p.last {
		p.last = pct
		p.c.logf("tải lên / upload %d%%", pct)
	}
	return n, err
}

// Push uploads the bundle file, asks Confirm, installs.
func (c *Client) Push(ctx context.Context, path string) (*bundle.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", c.o.Box+"/api/firmware/bundle", &progressReader{r: f, total: st.Size(), last: -1, c: c})
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("push: upload: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	var ans struct {
		Error    string           `json:"error"`
		Manifest *bundle.Manifest `json:"manifest"`
	}
	json.Unmarshal(body, &ans)
	if resp.StatusCode != 200 || ans.Manifest == nil {
		if ans.Error == "" {
			ans.Error = strings.TrimSpace(string(body))
		}
		return nil, fmt.Errorf("push: the box refused the bundle (status %d): %s", resp.StatusCode, ans.Error)
	}
	m := ans.Manifest
	c.logf("gói hợp lệ / valid bundle: %s %s, counter %d, built %s", m.Release.Board, m.Release.Version, m.Release.Counter, m.Release.Built.Format(time.RFC3339))
	if c.o.Confirm != nil && !c.o.Confirm(m) {
		return m, errors.New("push: not installed (not confirmed)")
	}
	req, _ = http.NewRequestWithContext(ctx, "POST", c.o.Box+"/api/firmware/install", nil)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err = c.http.Do(req)
	if err != nil {
		return m, fmt.Errorf("push: install: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return m, fmt.Errorf("push: install: status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	ok := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "ok":
			ok = true
		case strings.HasPrefix(line, "error: "):
			return m, fmt.Errorf("push: install: %s", strings.TrimPrefix(line, "error: "))
		case strings.HasPrefix(line, "progress "):
			c.logf("ghi / writing %s", strings.TrimPrefix(line, "progress "))
		default:
			c.logf("%s", line)
		}
	}
	if !ok {
		return m, errors.New("push: the answer ended before the install finished")
	}
	c.logf("xong / done: the box restarts into %s; it goes back to the old version by itself if the new one is not healthy", m.Release.Version)
	return m, nil
}
