package onvif

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/camnet"
)

// Errors a call may end with; Problem turns them into a state for the page.
var (
	// ErrWrongPassword: the camera refused the credentials. The client
	// does not try again (cameras lock the account after a few failures):
	// every later call returns this until new credentials are given to a
	// new client.
	ErrWrongPassword = errors.New("camera refused the user name or password")
	// ErrNeedCredentials: the camera wants a login and none was given.
	ErrNeedCredentials = errors.New("camera needs a user name and password")
	// ErrTooLarge: a reply longer than the limit.
	ErrTooLarge = errors.New("camera reply too large")
	// ErrNoONVIF: the camera does not answer ONVIF (use the known RTSP paths).
	ErrNoONVIF = errors.New("camera does not answer ONVIF")
)

// Defaults of a Client.
const (
	DefaultTimeout = 5 * time.Second
	DefaultMaxBody = 256 << 10
)

// Client talks to one camera's ONVIF services. Safe for concurrent use,
// though calls to one camera are best made one after another.
type Client struct {
	// Device is the device service URL, e.g. http://10.0.0.5/onvif/device_service.
	Device string
	// User and Password log in (empty User: no login sent).
	User, Password string
	// Policy checks every address dialled (zero value: private addresses only).
	Policy camnet.Policy
	// Timeout bounds each call, reply body included (default DefaultTimeout).
	Timeout time.Duration
	// MaxBody bounds each reply (default DefaultMaxBody).
	MaxBody int64
	// Now is the box's clock (default time.Now).
	Now func() time.Time

	once  sync.Once
	httpc *http.Client
	host  string // the host dialled (kept when a camera says 0.0.0.0)

	mu          sync.Mutex
	offset      time.Duration // camera clock minus box clock
	offsetKnown bool
	httpDigest  bool  // the camera wants HTTP digest, not WS-UsernameToken
	wsOK        bool  // WS-UsernameToken worked once
	failed      error // sticky ErrWrongPassword
	mediaAddr   string
}

func (c *Client) init() error {
	c.once.Do(func() {
		if c.Timeout <= 0 {
			c.Timeout = DefaultTimeout
		}
		if c.MaxBody <= 0 {
			c.MaxBody = DefaultMaxBody
		}
		if c.Now == nil {
			c.Now = time.Now
		}
		pol := c.Policy
		tr := &http.Transport{
			Proxy:                  nil,
			DialContext:            pol.Dial,
			DisableKeepAlives:      true,
			ResponseHeaderTimeout:  c.Timeout,
			MaxResponseHeaderBytes: 16 << 10,
		}
		c.httpc = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if u, err := url.Parse(c.Device); err == nil {
			c.host = u.Hostname()
		}
	})
	u, err := url.Parse(c.Device)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("onvif: device service address is not an http:// URL")
	}
	return nil
}

// Offset is the camera's clock minus the box's, once known.
func (c *Client) Offset() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset, c.offsetKnown
}

// fixAddr makes a service or stream address the camera sent usable: a
// host of 0.0.0.0, ::, or none becomes the host dialled. Other hosts are
// kept (the dial checks them).
func (c *Client) fixAddr(raw string, schemes ...string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || len(raw) > 2048 {
		return "", fmt.Errorf("%w: bad address", ErrBadReply)
	}
	okScheme := false
	for _, s := range schemes {
		if strings.EqualFold(u.Scheme, s) {
			okScheme = true
		}
	}
	if !okScheme {
		return "", fmt.Errorf("%w: address has the wrong scheme", ErrBadReply)
	}
	h := u.Hostname()
	a, aerr := netip.ParseAddr(h)
	if h == "" || (aerr == nil && a.IsUnspecified()) {
		host := c.host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if p := u.Port(); p != "" {
			host += ":" + p
		}
		u.Host = host
	}
	return u.String(), nil
}

// post sends one SOAP request to addr and returns the reply body and
// status. auth: "ws" adds a UsernameToken, "digest" answers an HTTP
// Digest challenge ch.
func (c *Client) post(ctx context.Context, addr string, body string, tok *UsernameToken, authz string) (status int, reply []byte, wwwAuth string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr, bytes.NewReader(Envelope(body, tok)))
	if err != nil {
		return 0, nil, "", fmt.Errorf("onvif: bad address: %w", camnet.ErrNotAllowed)
	}
	req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8`)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return 0, nil, "", classifyNetErr(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxBody+1))
	if err != nil {
		return 0, nil, "", classifyNetErr(err)
	}
	if int64(len(b)) > c.MaxBody {
		return 0, nil, "", fmt.Errorf("%w (over %d bytes)", ErrTooLarge, c.MaxBody)
	}
	return resp.StatusCode, b, resp.Header.Get("WWW-Authenticate"), nil
}

// ErrTimeout: the camera did not answer in time.
var ErrTimeout = errors.New("camera did not answer in time")

// ErrUnreachable: no connection to the camera.
var ErrUnreachable = errors.New("camera not reachable")

func classifyNetErr(err error) error {
	switch {
	case errors.Is(err, camnet.ErrNotAllowed):
		return camnet.ErrNotAllowed
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return ErrUnreachable
}

// call makes one SOAP call and reads its reply into T.
func call[T any](ctx context.Context, c *Client, addr, body string, authed bool) (*T, error) {
	if err := c.init(); err != nil {
		return nil, err
	}
	if !authed || c.User == "" {
		st, b, _, err := c.post(ctx, addr, body, nil, "")
		if err != nil {
			return nil, err
		}
		r, perr := Parse[T](b)
		if st == http.StatusUnauthorized || IsAuthFault(perr) {
			return nil, ErrNeedCredentials
		}
		return r, perr
	}
	c.mu.Lock()
	failed, digest, wsOK := c.failed, c.httpDigest, c.wsOK
	now := c.Now().Add(c.offset)
	c.mu.Unlock()
	if failed != nil {
		return nil, failed
	}
	if digest {
		return callDigest[T](ctx, c, addr, body)
	}
	tok := NewUsernameToken(c.User, c.Password, now)
	st, b, www, err := c.post(ctx, addr, body, &tok, "")
	if err != nil {
		return nil, err
	}
	r, perr := Parse[T](b)
	switch {
	case st == http.StatusUnauthorized && !wsOK:
		if _, ok := ParseChallenge(www); ok {
			// The camera wants HTTP digest (its web server checks before
			// ONVIF reads the token): switch once, for good.
			c.mu.Lock()
			c.httpDigest = true
			c.mu.Unlock()
			return callDigest[T](ctx, c, addr, body)
		}
		return nil, c.fail()
	case st == http.StatusUnauthorized, IsAuthFault(perr):
		return nil, c.fail()
	case perr == nil:
		c.mu.Lock()
		c.wsOK = true
		c.mu.Unlock()
	}
	return r, perr
}

// fail records a refused login: no call goes out with these credentials again.
func (c *Client) fail() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = ErrWrongPassword
	return c.failed
}

// callDigest asks for a challenge (a request without credentials, which
// is not a failed login) and answers it once.
func callDigest[T any](ctx context.Context, c *Client, addr, body string) (*T, error) {
	st, b, www, err := c.post(ctx, addr, body, nil, "")
	if err != nil {
		return nil, err
	}
	if st != http.StatusUnauthorized {
		r, perr := Parse[T](b)
		if IsAuthFault(perr) {
			return nil, c.fail()
		}
		return r, perr
	}
	ch, ok := ParseChallenge(www)
	if !ok {
		return nil, fmt.Errorf("%w: unusable HTTP authentication challenge", ErrBadReply)
	}
	u, _ := url.Parse(addr)
	st, b, _, err = c.post(ctx, addr, body, nil, ch.Authorization(c.User, c.Password, http.MethodPost, u.RequestURI()))
	if err != nil {
		return nil, err
	}
	r, perr := Parse[T](b)
	if st == http.StatusUnauthorized || IsAuthFault(perr) {
		return nil, c.fail()
	}
	return r, perr
}

// SystemDateAndTime asks the camera's clock (no login) and records the
// offset from the box's clock (measured at the middle of the call).
func (c *Client) SystemDateAndTime(ctx context.Context) (time.Time, error) {
	if err := c.init(); err != nil {
		return time.Time{}, err
	}
	t0 := c.Now()
	st, b, _, err := c.post(ctx, c.Device, `<tds:GetSystemDateAndTime/>`, nil, "")
	if err != nil {
		return time.Time{}, err
	}
	t1 := c.Now()
	if st == http.StatusUnauthorized {
		return time.Time{}, ErrNeedCredentials // a camera that asks a login even for its clock
	}
	r, err := Parse[systemDateAndTimeResponse](b)
	if err != nil {
		if st == http.StatusNotFound || errors.Is(err, ErrBadReply) {
			return time.Time{}, fmt.Errorf("%w: %w", ErrNoONVIF, err)
		}
		return time.Time{}, err
	}
	cam, err := r.cameraUTC()
	if err != nil {
		return time.Time{}, err
	}
	mid := t0.Add(t1.Sub(t0) / 2)
	c.mu.Lock()
	c.offset = cam.Sub(mid).Truncate(time.Second)
	c.offsetKnown = true
	c.mu.Unlock()
	return cam, nil
}

// Services are the service addresses a camera gave.
type Services struct {
	Device, Media string
}

// Services asks GetCapabilities, or GetServices if that fails, for the
// media service's address.
func (c *Client) Services(ctx context.Context) (Services, error) {
	s := Services{Device: c.Device}
	r, err := call[capabilitiesResponse](ctx, c, c.Device, `<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>`, true)
	if err == nil && r.Capabilities.Media.XAddr != "" {
		m, ferr := c.fixAddr(r.Capabilities.Media.XAddr, "http", "https")
		if ferr == nil {
			s.Media = m
		}
	}
	if isFinal(err) {
		return s, err
	}
	if s.Media == "" {
		r2, err2 := call[servicesResponse](ctx, c, c.Device, `<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>`, true)
		if err2 != nil {
			return s, errors.Join(err, err2)
		}
		for _, sv := range r2.Service {
			if strings.TrimSpace(sv.Namespace) == nsMedia {
				if m, ferr := c.fixAddr(sv.XAddr, "http", "https"); ferr == nil {
					s.Media = m
				}
			}
		}
	}
	if s.Media == "" {
		return s, fmt.Errorf("%w: no media service", ErrBadReply)
	}
	c.mu.Lock()
	c.mediaAddr = s.Media
	c.mu.Unlock()
	return s, nil
}

// isFinal: errors after which no further call should be tried.
func isFinal(err error) bool {
	return errors.Is(err, ErrWrongPassword) || errors.Is(err, ErrNeedCredentials) ||
		errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnreachable) ||
		errors.Is(err, camnet.ErrNotAllowed) || errors.Is(err, context.Canceled) || errors.Is(err, ErrTooLarge)
}

// DeviceInformation is what GetDeviceInformation tells.
type DeviceInformation struct {
	Manufacturer, Model, Firmware, Serial, HardwareID string
}

// DeviceInformation asks the maker, model, firmware and serial number.
func (c *Client) DeviceInformation(ctx context.Context) (DeviceInformation, error) {
	r, err := call[deviceInformationResponse](ctx, c, c.Device, `<tds:GetDeviceInformation/>`, true)
	if err != nil {
		return DeviceInformation{}, err
	}
	return DeviceInformation{Manufacturer: clean(r.Manufacturer), Model: clean(r.Model), Firmware: clean(r.FirmwareVersion),
		Serial: clean(r.SerialNumber), HardwareID: clean(r.HardwareID)}, nil
}

// clean bounds and trims a text a camera sent, keeping printable runes.
func clean(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 100 {
			break
		}
		if r >= 0x20 && r != 0x7f && r != '\uFFFD' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (c *Client) media() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mediaAddr != "" {
		return c.mediaAddr
	}
	return c.Device
}

// Profiles asks the media profiles (call Services first to learn the
// media service's address; else the device address is used).
func (c *Client) Profiles(ctx context.Context) ([]Profile, error) {
	r, err := call[profilesResponse](ctx, c, c.media(), `<trt:GetProfiles/>`, true)
	if err != nil {
		return nil, err
	}
	var out []Profile
	for _, p := range r.Profiles {
		if p.Token == "" || len(p.Token) > 64 {
			continue
		}
		out = append(out, Profile{Token: p.Token, Name: clean(p.Name), Encoding: clean(p.VEC.Encoding),
			Width: p.VEC.Resolution.Width, Height: p.VEC.Resolution.Height})
		if len(out) == 32 {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no media profile", ErrBadReply)
	}
	return out, nil
}

// StreamURI asks the RTSP address of a profile (without credentials).
func (c *Client) StreamURI(ctx context.Context, profileToken string) (string, error) {
	body := `<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>` +
		esc(profileToken) + `</trt:ProfileToken></trt:GetStreamUri>`
	r, err := call[streamURIResponse](ctx, c, c.media(), body, true)
	if err != nil {
		return "", err
	}
	u, err := c.fixAddr(r.MediaURI.URI, "rtsp", "rtsps")
	if err != nil {
		return "", err
	}
	pu, _ := url.Parse(u)
	pu.User = nil // never keep credentials a camera put in a URI
	return pu.String(), nil
}

// SetUser changes the password of user (ONVIF SetUser, where the camera
// allows it). The client keeps logging in with the old password: make a
// new client with the new one.
func (c *Client) SetUser(ctx context.Context, user, newPassword, level string) error {
	if level == "" {
		level = "Administrator"
	}
	body := `<tds:SetUser><tds:User><tt:Username>` + esc(user) + `</tt:Username><tt:Password>` + esc(newPassword) +
		`</tt:Password><tt:UserLevel>` + esc(level) + `</tt:UserLevel></tds:User></tds:SetUser>`
	_, err := call[emptyResponse](ctx, c, c.Device, body, true)
	return err
}

// MainAndSub picks the main profile (the largest picture, the first on a
// tie) and the sub profile (the next one the camera lists, else none).
func MainAndSub(ps []Profile) (main Profile, sub Profile, hasSub bool) {
	if len(ps) == 0 {
		return Profile{}, Profile{}, false
	}
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return ps[idx[a]].Width*ps[idx[a]].Height > ps[idx[b]].Width*ps[idx[b]].Height
	})
	mi := idx[0]
	main = ps[mi]
	for i, p := range ps {
		if i != mi {
			return main, p, true
		}
	}
	return main, Profile{}, false
}
