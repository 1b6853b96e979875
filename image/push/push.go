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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/image/boxclient"
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
	o Options
	s *boxclient.Session
}

// Login logs in as the technician.
func Login(ctx context.Context, o Options) (*Client, error) {
	if o.Fingerprint == "" && !o.InsecureTLS {
		return nil, errors.New("push: the box's certificate fingerprint is needed (system page), or -insecure-tls")
	}
	// With no fingerprint (-insecure-tls) any certificate is trusted.
	s, err := boxclient.Login(ctx, boxclient.NewHTTPClient(o.Fingerprint, nil), o.Box, o.User, o.Password)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if s.Role != "technician" {
		return nil, fmt.Errorf("push: %s is %s; only a technician updates the firmware", o.User, s.Role)
	}
	return &Client{o: o, s: s}, nil
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
	req, err := c.s.NewRequest(ctx, http.MethodPost, "/api/firmware/bundle", &progressReader{r: f, total: st.Size(), last: -1, c: c})
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.s.Client.Do(req)
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
	resp, err = c.s.Do(ctx, http.MethodPost, "/api/firmware/install", nil)
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
