package camsim

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/onvif"
)

// Device is a camera's ONVIF device and media service (SOAP over HTTP),
// like the ones Hikvision, Dahua/Imou, Ezviz and KBVision cameras serve:
// GetSystemDateAndTime without login, everything else behind
// WS-UsernameToken digest (checked against the camera's skewed clock) or
// HTTP digest, and a lockout after a few failed logins (like Imou/Dahua).
// Set the fields before serving; change them later only through methods.
type Device struct {
	Maker, Model, Firmware, Serial string
	// Skew is the camera's clock minus the real time.
	Skew time.Duration
	// User and Password are the login (empty User: none asked).
	User, Password string
	// HTTPDigest: the camera wants HTTP digest, not WS-UsernameToken.
	HTTPDigest bool
	// ZeroAddrs: service and stream addresses say 0.0.0.0 (some cameras do).
	ZeroAddrs bool
	// AltPrefixes: replies use other namespace prefixes (ns0:, SOAP-ENV:).
	AltPrefixes bool
	// MainURI and SubURI are the RTSP streams (SubURI empty: one profile).
	MainURI, SubURI string
	// Lockout is after how many failed logins every login is refused
	// (default 3).
	Lockout int
	// MaxTokenAge is how far a token's Created may be from the camera's
	// clock (default 10 s).
	MaxTokenAge time.Duration

	mu       sync.Mutex
	fault    string // "", "garbage", "huge", "slow"
	failures int
	calls    map[string]int
}

// SetFault makes every reply misbehave: "garbage" (not XML), "huge"
// (an endless body), "slow" (headers, then a byte every few seconds), or
// "" (well again).
func (d *Device) SetFault(f string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fault = f
}

// Failures is how many logins the device refused.
func (d *Device) Failures() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failures
}

// Calls is how many times the operation was asked (e.g. "GetProfiles").
func (d *Device) Calls(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op]
}

// CurrentPassword is the password now (SetUser changes it).
func (d *Device) CurrentPassword() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Password
}

type simRequest struct {
	Header struct {
		Tok struct {
			Username string `xml:"Username"`
			Password string `xml:"Password"`
			Nonce    string `xml:"Nonce"`
			Created  string `xml:"Created"`
		} `xml:"Security>UsernameToken"`
	} `xml:"Header"`
	Body struct {
		Ops []struct {
			XMLName      xml.Name
			ProfileToken string `xml:"ProfileToken"`
			User         struct {
				Username string `xml:"Username"`
				Password string `xml:"Password"`
			} `xml:"User"`
		} `xml:",any"`
	} `xml:"Body"`
}

const simRealm = "camsim"

// ServeHTTP answers one SOAP request.
func (d *Device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	fault := d.fault
	d.mu.Unlock()
	switch fault {
	case "garbage":
		w.Header().Set("Content-Type", "application/soap+xml")
		w.Write([]byte("\x00\xff<<not xml at all"))
		return
	case "huge":
		w.Header().Set("Content-Type", "application/soap+xml")
		chunk := bytes.Repeat([]byte("<a>"), 1<<14)
		for i := 0; i < 4096; i++ { // 192 MiB unless the reader stops
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		return
	case "slow":
		w.Header().Set("Content-Type", "application/soap+xml")
		w.WriteHeader(http.StatusOK)
		for i := 0; i < 100; i++ {
			if _, err := w.Write([]byte("<")); err != nil {
				return
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	var req simRequest
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Body.Ops) == 0 {
		d.reply(w, http.StatusBadRequest, faultXML("env:Sender", "ter:WellFormed", "bad request"))
		return
	}
	op := req.Body.Ops[0]
	d.mu.Lock()
	if d.calls == nil {
		d.calls = map[string]int{}
	}
	d.calls[op.XMLName.Local]++
	d.mu.Unlock()
	if op.XMLName.Local != "GetSystemDateAndTime" && d.User != "" {
		if !d.authorized(w, r, &req) {
			return
		}
	}
	switch op.XMLName.Local {
	case "GetSystemDateAndTime":
		t := time.Now().Add(d.Skew).UTC()
		d.reply(w, 200, fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>GMT-07:00</tt:TZ></tt:TimeZone>`+
			`<tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time><tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></tt:UTCDateTime>`+
			`</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`, t.Hour(), t.Minute(), t.Second(), t.Year(), int(t.Month()), t.Day()))
	case "GetCapabilities":
		base := d.base(r)
		d.reply(w, 200, fmt.Sprintf(`<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>%s/onvif/device_service</tt:XAddr></tt:Device><tt:Media><tt:XAddr>%s/onvif/media_service</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>`, base, base))
	case "GetServices":
		base := d.base(r)
		d.reply(w, 200, fmt.Sprintf(`<tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace><tds:XAddr>%s/onvif/device_service</tds:XAddr></tds:Service><tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>%s/onvif/media_service</tds:XAddr></tds:Service></tds:GetServicesResponse>`, base, base))
	case "GetDeviceInformation":
		d.reply(w, 200, fmt.Sprintf(`<tds:GetDeviceInformationResponse><tds:Manufacturer>%s</tds:Manufacturer><tds:Model>%s</tds:Model><tds:FirmwareVersion>%s</tds:FirmwareVersion><tds:SerialNumber>%s</tds:SerialNumber><tds:HardwareId>%s</tds:HardwareId></tds:GetDeviceInformationResponse>`,
			html.EscapeString(d.Maker), html.EscapeString(d.Model), html.EscapeString(d.Firmware), html.EscapeString(d.Serial), html.EscapeString(d.Model)))
	case "GetProfiles":
		var b strings.Builder
		b.WriteString(`<trt:GetProfilesResponse>`)
		b.WriteString(profileXML("Profile_1", "mainStream", 1280, 720))
		if d.SubURI != "" {
			b.WriteString(profileXML("Profile_2", "subStream", 640, 360))
		}
		b.WriteString(`</trt:GetProfilesResponse>`)
		d.reply(w, 200, b.String())
	case "GetStreamUri":
		uri := ""
		switch op.ProfileToken {
		case "Profile_1":
			uri = d.MainURI
		case "Profile_2":
			uri = d.SubURI
		}
		if uri == "" {
			d.reply(w, 400, faultXML("env:Sender", "ter:InvalidArgVal", "no such profile"))
			return
		}
		if d.ZeroAddrs {
			if u, err := url.Parse(uri); err == nil {
				u.Host = net.JoinHostPort("0.0.0.0", u.Port())
				uri = u.String()
			}
		}
		d.reply(w, 200, fmt.Sprintf(`<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>%s</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`, html.EscapeString(uri)))
	case "SetUser":
		if op.User.Username != d.User || op.User.Password == "" {
			d.reply(w, 400, faultXML("env:Sender", "ter:InvalidArgVal", "no such user"))
			return
		}
		d.mu.Lock()
		d.Password = op.User.Password
		d.mu.Unlock()
		d.reply(w, 200, `<tds:SetUserResponse/>`)
	default:
		d.reply(w, 400, faultXML("env:Receiver", "ter:ActionNotSupported", "not supported"))
	}
}

func profileXML(token, name string, w, h int) string {
	return fmt.Sprintf(`<trt:Profiles token="%s" fixed="true"><tt:Name>%s</tt:Name><tt:VideoEncoderConfiguration token="V%s"><tt:Name>%s</tt:Name><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration></trt:Profiles>`, token, name, token, name, w, h)
}

// base is the service address prefix: the host the client dialled, or 0.0.0.0.
func (d *Device) base(r *http.Request) string {
	if d.ZeroAddrs {
		_, port, _ := net.SplitHostPort(r.Host)
		return "http://" + net.JoinHostPort("0.0.0.0", port)
	}
	return "http://" + r.Host
}

// authorized checks the login; a refused one is counted, and after
// Lockout failures every login is refused.
func (d *Device) authorized(w http.ResponseWriter, r *http.Request, req *simRequest) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	lockout := d.Lockout
	if lockout <= 0 {
		lockout = 3
	}
	maxAge := d.MaxTokenAge
	if maxAge <= 0 {
		maxAge = 10 * time.Second
	}
	refuse := func(reason string) bool {
		d.failures++
		if d.HTTPDigest {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm=%q, qop="auth", nonce=%q`, simRealm, "n"+fmt.Sprint(time.Now().UnixNano())))
			w.WriteHeader(http.StatusUnauthorized)
			return false
		}
		d.replyLocked(w, 400, faultXML("env:Sender", "ter:NotAuthorized", reason))
		return false
	}
	if d.HTTPDigest {
		h := r.Header.Get("Authorization")
		if h == "" {
			// A request without credentials is not a failed login.
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm=%q, qop="auth", nonce=%q`, simRealm, "n"+fmt.Sprint(time.Now().UnixNano())))
			w.WriteHeader(http.StatusUnauthorized)
			return false
		}
		if d.failures >= lockout || !checkDigest(h, d.User, d.Password, r.Method) {
			return refuse("bad digest")
		}
		return true
	}
	t := req.Header.Tok
	if t.Username == "" {
		d.replyLocked(w, 400, faultXML("env:Sender", "ter:NotAuthorized", "Sender not Authorized"))
		return false
	}
	if d.failures >= lockout {
		return refuse("account locked")
	}
	created, err := time.Parse(time.RFC3339Nano, t.Created)
	now := time.Now().Add(d.Skew)
	if err != nil || created.Sub(now) > maxAge || now.Sub(created) > maxAge {
		return refuse("Wsse authorized time check failed")
	}
	nonce, err := base64.StdEncoding.DecodeString(t.Nonce)
	if err != nil || t.Username != d.User || onvif.PasswordDigest(nonce, t.Created, d.Password) != t.Password {
		return refuse("Sender not Authorized")
	}
	return true
}

// checkDigest verifies an RFC 2617 digest answer (qop=auth) for the fixed realm.
func checkDigest(h, user, password, method string) bool {
	scheme, rest, _ := strings.Cut(h, " ")
	if scheme != "Digest" {
		return false
	}
	kv := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		kv[k] = strings.Trim(v, `"`)
	}
	if kv["username"] != user || kv["realm"] != simRealm {
		return false
	}
	ha1 := md5hex(user + ":" + simRealm + ":" + password)
	ha2 := md5hex(method + ":" + kv["uri"])
	want := md5hex(ha1 + ":" + kv["nonce"] + ":" + kv["nc"] + ":" + kv["cnonce"] + ":" + kv["qop"] + ":" + ha2)
	return kv["response"] == want
}

func faultXML(code, sub, reason string) string {
	return fmt.Sprintf(`<env:Fault><env:Code><env:Value>%s</env:Value><env:Subcode><env:Value>%s</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">%s</env:Text></env:Reason></env:Fault>`, code, sub, html.EscapeString(reason))
}

func (d *Device) reply(w http.ResponseWriter, status int, body string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.replyLocked(w, status, body)
}

func (d *Device) replyLocked(w http.ResponseWriter, status int, body string) {
	env, tds, trt, tt := "env", "tds", "trt", "tt"
	if d.AltPrefixes {
		env, tds, trt, tt = "SOAP-ENV", "ns0", "ns1", "ns2"
	}
	body = strings.NewReplacer("<env:", "<"+env+":", "</env:", "</"+env+":", "<tds:", "<"+tds+":", "</tds:", "</"+tds+":",
		"<trt:", "<"+trt+":", "</trt:", "</"+trt+":", "<tt:", "<"+tt+":", "</tt:", "</"+tt+":").Replace(body)
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%s:Envelope xmlns:%s="http://www.w3.org/2003/05/soap-envelope" xmlns:%s="http://www.onvif.org/ver10/device/wsdl" xmlns:%s="http://www.onvif.org/ver10/media/wsdl" xmlns:%s="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error"><%s:Body>%s</%s:Body></%s:Envelope>`,
		env, env, tds, trt, tt, env, body, env, env)
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
