// Package onvif is the box's ONVIF client: the few SOAP calls a camera
// hub needs (GetSystemDateAndTime, GetCapabilities/GetServices,
// GetDeviceInformation, GetProfiles, GetStreamUri, SetUser), written with
// encoding/xml. Replies are read by local element names, so any namespace
// prefix a camera uses is accepted. Authentication is WS-UsernameToken
// digest computed from the camera's own clock, falling back to HTTP
// digest; a failed login is never retried (Imou/Dahua lock the account
// after a few): the client remembers it and refuses further calls.
//
// Every dial goes through daemon/camnet's address checks, every reply is
// bounded in size and time, and errors never quote what the camera sent.
package onvif

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Namespaces of the requests we send.
const (
	nsSOAP   = "http://www.w3.org/2003/05/soap-envelope"
	nsDevice = "http://www.onvif.org/ver10/device/wsdl"
	nsMedia  = "http://www.onvif.org/ver10/media/wsdl"
	nsSchema = "http://www.onvif.org/ver10/schema"
	nsWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

	pwDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	b64Type      = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// ErrBadReply is a reply that is not the SOAP the call expects.
var ErrBadReply = errors.New("camera sent a reply that is not ONVIF SOAP")

// UsernameToken is a WS-Security UsernameToken with a password digest.
type UsernameToken struct {
	Username string
	Nonce    []byte
	Created  string // xsd:dateTime, UTC, the camera's clock
	Digest   string // base64(SHA1(nonce + created + password))
}

// NewUsernameToken makes a token for user/password at time now (the
// camera's clock: the box's time plus the camera's offset).
func NewUsernameToken(user, password string, now time.Time) UsernameToken {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	created := now.UTC().Format("2006-01-02T15:04:05.000Z")
	return UsernameToken{Username: user, Nonce: nonce, Created: created, Digest: PasswordDigest(nonce, created, password)}
}

// PasswordDigest is the WS-UsernameToken digest.
func PasswordDigest(nonce []byte, created, password string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Envelope builds a SOAP 1.2 request with body (XML using the prefixes
// tds, trt, tt) and, if tok is not nil, a WS-Security header.
func Envelope(body string, tok *UsernameToken) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	fmt.Fprintf(&b, `<s:Envelope xmlns:s=%q xmlns:tds=%q xmlns:trt=%q xmlns:tt=%q>`, nsSOAP, nsDevice, nsMedia, nsSchema)
	if tok != nil {
		fmt.Fprintf(&b, `<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse=%q xmlns:wsu=%q><wsse:UsernameToken>`, nsWSSE, nsWSU)
		b.WriteString(`<wsse:Username>`)
		xml.EscapeText(&b, []byte(tok.Username))
		fmt.Fprintf(&b, `</wsse:Username><wsse:Password Type=%q>%s</wsse:Password>`, pwDigestType, tok.Digest)
		fmt.Fprintf(&b, `<wsse:Nonce EncodingType=%q>%s</wsse:Nonce>`, b64Type, base64.StdEncoding.EncodeToString(tok.Nonce))
		fmt.Fprintf(&b, `<wsu:Created>%s</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>`, tok.Created)
	}
	b.WriteString(`<s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

// esc escapes s for XML text.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Fault is a SOAP fault (1.2 or 1.1 shape).
type Fault struct {
	Code struct {
		Value   string `xml:"Value"`
		Subcode struct {
			Value   string `xml:"Value"`
			Subcode struct {
				Value string `xml:"Value"`
			} `xml:"Subcode"`
		} `xml:"Subcode"`
	} `xml:"Code"`
	Reason    string `xml:"Reason>Text"`
	FaultCode string `xml:"faultcode"` // SOAP 1.1
}

// IsAuth says whether the fault is a refused login.
func (f *Fault) IsAuth() bool {
	for _, v := range []string{f.Code.Subcode.Value, f.Code.Subcode.Subcode.Value, f.FaultCode, f.Reason} {
		l := strings.ToLower(v)
		if strings.Contains(l, "notauthorized") || strings.Contains(l, "failedauthentication") ||
			strings.Contains(l, "not authorized") || strings.Contains(l, "authority failure") ||
			strings.Contains(l, "sender not authorized") || strings.Contains(l, "time check failed") {
			return true
		}
	}
	return false
}

// envelope reads a reply: the fault, or the first element of the body
// into T (matched by local names, any prefix).
type envelope[T any] struct {
	XMLName xml.Name
	Body    struct {
		Fault *Fault `xml:"Fault"`
		Resp  *T     `xml:",any"`
	} `xml:"Body"`
}

// errFault carries a fault out of Parse.
type errFault struct{ f *Fault }

func (e errFault) Error() string {
	if e.f.IsAuth() {
		return "camera refused the login"
	}
	return "camera answered with a SOAP fault"
}

// Parse reads a SOAP reply body into T. A fault is returned as an error
// (IsAuthFault tells a refused login).
func Parse[T any](b []byte) (*T, error) {
	var env envelope[T]
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		// Cameras send UTF-8; an ASCII-compatible label is read as UTF-8.
		return in, nil
	}
	if err := d.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, shortXMLErr(err))
	}
	if env.XMLName.Local != "Envelope" {
		return nil, fmt.Errorf("%w: no Envelope", ErrBadReply)
	}
	if env.Body.Fault != nil {
		return nil, errFault{env.Body.Fault}
	}
	if env.Body.Resp == nil {
		return nil, fmt.Errorf("%w: empty Body", ErrBadReply)
	}
	return env.Body.Resp, nil
}

// IsAuthFault says whether err is a SOAP fault refusing the login.
func IsAuthFault(err error) bool {
	var f errFault
	return errors.As(err, &f) && f.f.IsAuth()
}

// shortXMLErr keeps an XML error's kind without quoting the input.
func shortXMLErr(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("XML syntax error on line %d", se.Line)
	}
	return "XML not readable"
}
