package onvif

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Challenge is an HTTP Digest challenge (RFC 7616, MD5 only: what
// cameras of this market offer).
type Challenge struct {
	Realm, Nonce, Opaque, Algorithm string
	QopAuth                         bool
}

// ParseChallenge reads a WWW-Authenticate header value; ok is false for
// anything but a usable Digest MD5 challenge.
func ParseChallenge(h string) (c Challenge, ok bool) {
	if len(h) > 4096 {
		return c, false
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return c, false
	}
	for len(rest) > 0 {
		rest = strings.TrimLeft(rest, " ,\t")
		k, after, found := strings.Cut(rest, "=")
		if !found {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				return c, false
			}
			v, rest = after[1:1+end], after[2+end:]
		} else {
			v, rest, _ = strings.Cut(after, ",")
			v = strings.TrimSpace(v)
		}
		switch k {
		case "realm":
			c.Realm = v
		case "nonce":
			c.Nonce = v
		case "opaque":
			c.Opaque = v
		case "algorithm":
			c.Algorithm = v
		case "qop":
			for _, q := range strings.Split(v, ",") {
				if strings.TrimSpace(q) == "auth" {
					c.QopAuth = true
				}
			}
		}
	}
	if c.Nonce == "" || (c.Algorithm != "" && !strings.EqualFold(c.Algorithm, "MD5")) {
		return c, false
	}
	return c, true
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// Authorization is the header answering c for method and uri.
func (c Challenge) Authorization(user, password, method, uri string) string {
	ha1 := md5hex(user + ":" + c.Realm + ":" + password)
	ha2 := md5hex(method + ":" + uri)
	q := func(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`, q(user), q(c.Realm), q(c.Nonce), q(uri))
	if c.QopAuth {
		cb := make([]byte, 8)
		rand.Read(cb)
		cnonce := hex.EncodeToString(cb)
		resp := md5hex(ha1 + ":" + c.Nonce + ":00000001:" + cnonce + ":auth:" + ha2)
		fmt.Fprintf(&b, `, qop=auth, nc=00000001, cnonce="%s", response="%s"`, cnonce, resp)
	} else {
		fmt.Fprintf(&b, `, response="%s"`, md5hex(ha1+":"+c.Nonce+":"+ha2))
	}
	if c.Opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, q(c.Opaque))
	}
	if c.Algorithm != "" {
		b.WriteString(", algorithm=MD5")
	}
	return b.String()
}
