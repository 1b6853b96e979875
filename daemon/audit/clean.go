package audit

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Caps of the record fields, in bytes.
const (
	maxActor  = 64
	maxRole   = 32
	maxIP     = 64
	maxAction = 32
	maxCamera = 64
	maxDetail = 512
)

// cleanRecord cleans and caps the fields a caller fills in, so that no
// request can make a record long or make it show what it does not hold.
func cleanRecord(r Record) Record {
	r.Actor = clean(r.Actor, maxActor)
	r.Role = clean(r.Role, maxRole)
	r.IP = clean(r.IP, maxIP)
	r.Action = clean(r.Action, maxAction)
	r.Camera = clean(r.Camera, maxCamera)
	r.Detail = clean(r.Detail, maxDetail)
	if r.Head != nil {
		h := *r.Head
		h.Hash, h.Sig = clean(h.Hash, 128), clean(h.Sig, 256)
		r.Head = &h
	}
	if r.Span != nil {
		s := *r.Span
		s.LastHash = clean(s.LastHash, 128)
		r.Span = &s
	}
	return r
}

// clean returns s as valid UTF-8 without control or bidirectional
// formatting characters (white space becomes a space), cut to at most n
// bytes (ending in "…" when cut). clean(clean(s, n), n) == clean(s, n).
func clean(s string, n int) string {
	if len(s) > 4*n {
		s = s[:4*n] // look no further than needed
	}
	ok := len(s) <= n
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] >= 0x20 && s[i] < 0x7f
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			r = '?'
		case r == '\t' || r == '\n' || r == '\r':
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) <= n {
		return out
	}
	const ell = "…"
	cut := n - len(ell)
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + ell
}
