// Package discovery finds ONVIF cameras on the camera network with
// WS-Discovery: it sends Probe messages to 239.255.255.250:3702 on the
// camera interface (a round of a few probes, repeated), listens for the
// Hello and Bye cameras multicast, matches each camera's address with the
// DHCP lease that gave it (LeaseLookup, satisfied by the box's DHCP
// server) and keeps a bounded table of what it found. It records nothing
// and shows nothing: daemon/pairing decides what becomes a camera.
//
// message.go builds and reads the WS-Discovery messages (both sides: the
// camera simulator answers with the same code).
package discovery

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Multicast group and port of WS-Discovery.
const (
	Group = "239.255.255.250"
	Port  = 3702
)

const (
	nsEnv  = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsDisc = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
	nsDN   = "http://www.onvif.org/ver10/network/wsdl"
	toDisc = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
	anon   = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

	// TypeNVT is the ONVIF camera type probed for.
	TypeNVT = "dn:NetworkVideoTransmitter"
)

// Kinds of message.
const (
	KindProbe        = "Probe"
	KindProbeMatches = "ProbeMatches"
	KindHello        = "Hello"
	KindBye          = "Bye"
)

// Bounds of what is read from one datagram.
const (
	MaxDatagram = 64 << 10
	maxMatches  = 16
	maxList     = 16 // XAddrs, types
	maxScopes   = 32
	maxField    = 512
)

// Match is one device in a ProbeMatches, Hello or Bye.
type Match struct {
	Endpoint string   // EndpointReference address, e.g. urn:uuid:…
	Types    []string // e.g. dn:NetworkVideoTransmitter
	Scopes   []string // onvif://www.onvif.org/name/…, …/hardware/…, …/location/…
	XAddrs   []string // device service addresses
}

// Scope returns the value of an onvif://www.onvif.org/KEY/VALUE scope
// (URL-decoded), or "".
func (m Match) Scope(key string) string {
	p := "onvif://www.onvif.org/" + key + "/"
	for _, s := range m.Scopes {
		if strings.HasPrefix(strings.ToLower(s), p) {
			v := s[len(p):]
			v = strings.ReplaceAll(v, "%20", " ")
			return v
		}
	}
	return ""
}

// Message is a WS-Discovery message.
type Message struct {
	Kind      string
	MessageID string
	RelatesTo string
	Matches   []Match // ProbeMatches: the matches; Hello, Bye: one
	Types     []string
}

// NewMessageID is a fresh uuid: URN.
func NewMessageID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return "uuid:" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func head(b *bytes.Buffer, action, id, relatesTo, to string) {
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	fmt.Fprintf(b, `<e:Envelope xmlns:e=%q xmlns:w=%q xmlns:d=%q xmlns:dn=%q><e:Header>`, nsEnv, nsAddr, nsDisc, nsDN)
	fmt.Fprintf(b, `<w:MessageID>%s</w:MessageID>`, esc(id))
	if relatesTo != "" {
		fmt.Fprintf(b, `<w:RelatesTo>%s</w:RelatesTo>`, esc(relatesTo))
	}
	fmt.Fprintf(b, `<w:To e:mustUnderstand="true">%s</w:To><w:Action e:mustUnderstand="true">%s/%s</w:Action></e:Header><e:Body>`, to, nsDisc, action)
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func writeMatch(b *bytes.Buffer, m Match, full bool) {
	fmt.Fprintf(b, `<w:EndpointReference><w:Address>%s</w:Address></w:EndpointReference>`, esc(m.Endpoint))
	if !full {
		return
	}
	fmt.Fprintf(b, `<d:Types>%s</d:Types><d:Scopes>%s</d:Scopes><d:XAddrs>%s</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>`,
		esc(strings.Join(m.Types, " ")), esc(strings.Join(m.Scopes, " ")), esc(strings.Join(m.XAddrs, " ")))
}

// Probe is a Probe for ONVIF cameras with message id.
func Probe(id string) []byte {
	var b bytes.Buffer
	head(&b, KindProbe, id, "", toDisc)
	fmt.Fprintf(&b, `<d:Probe><d:Types>%s</d:Types></d:Probe></e:Body></e:Envelope>`, TypeNVT)
	return b.Bytes()
}

// ProbeMatches answers the probe relatesTo with m.
func ProbeMatches(relatesTo string, m Match) []byte {
	var b bytes.Buffer
	head(&b, KindProbeMatches, NewMessageID(), relatesTo, anon)
	b.WriteString(`<d:ProbeMatches><d:ProbeMatch>`)
	writeMatch(&b, m, true)
	b.WriteString(`</d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>`)
	return b.Bytes()
}

// Hello announces m.
func Hello(m Match) []byte {
	var b bytes.Buffer
	head(&b, KindHello, NewMessageID(), "", toDisc)
	b.WriteString(`<d:Hello>`)
	writeMatch(&b, m, true)
	b.WriteString(`</d:Hello></e:Body></e:Envelope>`)
	return b.Bytes()
}

// Bye says m leaves.
func Bye(m Match) []byte {
	var b bytes.Buffer
	head(&b, KindBye, NewMessageID(), "", toDisc)
	b.WriteString(`<d:Bye>`)
	writeMatch(&b, m, false)
	b.WriteString(`</d:Bye></e:Body></e:Envelope>`)
	return b.Bytes()
}

// ErrNotDiscovery is a datagram that is not a WS-Discovery message.
var ErrNotDiscovery = errors.New("not a WS-Discovery message")

type xmatch struct {
	Endpoint string `xml:"EndpointReference>Address"`
	Types    string `xml:"Types"`
	Scopes   string `xml:"Scopes"`
	XAddrs   string `xml:"XAddrs"`
}

type xenvelope struct {
	XMLName xml.Name
	Header  struct {
		MessageID string `xml:"MessageID"`
		RelatesTo string `xml:"RelatesTo"`
	} `xml:"Header"`
	Body struct {
		Inner []xbodyElem `xml:",any"`
	} `xml:"Body"`
}

type xbodyElem struct {
	XMLName xml.Name
	Matches []xmatch `xml:"ProbeMatch"`
	xmatch
}

// Parse reads a datagram (any namespace prefixes). It never panics and
// bounds what it keeps.
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxDatagram {
		return m, fmt.Errorf("%w: too long", ErrNotDiscovery)
	}
	var env xenvelope
	d := xml.NewDecoder(bytes.NewReader(b))
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	if err := d.Decode(&env); err != nil || env.XMLName.Local != "Envelope" || len(env.Body.Inner) == 0 {
		return m, ErrNotDiscovery
	}
	m.MessageID = field(env.Header.MessageID)
	m.RelatesTo = field(env.Header.RelatesTo)
	e := env.Body.Inner[0]
	switch e.XMLName.Local {
	case KindProbe:
		m.Kind = KindProbe
		m.Types = list(e.xmatch.Types, maxList)
	case KindProbeMatches:
		m.Kind = KindProbeMatches
		for i, x := range e.Matches {
			if i == maxMatches {
				break
			}
			if mm, ok := readMatch(x); ok {
				m.Matches = append(m.Matches, mm)
			}
		}
	case KindHello, KindBye:
		m.Kind = e.XMLName.Local
		if mm, ok := readMatch(e.xmatch); ok {
			m.Matches = append(m.Matches, mm)
		}
	default:
		return m, ErrNotDiscovery
	}
	return m, nil
}

func readMatch(x xmatch) (Match, bool) {
	m := Match{Endpoint: field(x.Endpoint), Types: list(x.Types, maxList), Scopes: list(x.Scopes, maxScopes), XAddrs: list(x.XAddrs, maxList)}
	return m, m.Endpoint != ""
}

// field trims and bounds one value, dropping control characters.
func field(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxField {
		s = s[:maxField]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return -1
		}
		return r
	}, s)
}

func list(s string, max int) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if len(out) == max {
			break
		}
		if f = field(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
