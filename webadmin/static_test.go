package webadmin

import (
	"bytes"
	"compress/gzip"
	"image/png"
	"io"
	"net/http"
	"testing"
)

// TestStaticCaching: app.js and app.css carry a content ETag and
// revalidate (a repeat visit is a 304 without the body), and come gzipped
// to a client that accepts it.
func TestStaticCaching(t *testing.T) {
	e := newTestEnv(t)
	for _, name := range []string{"app.js", "app.css"} {
		get := func(hdr map[string]string) *http.Response {
			req, _ := http.NewRequest("GET", e.srv.URL+"/static/"+name, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			// Transport-level gzip off: the test reads what the server sent.
			r, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Body.Close() })
			return r
		}
		plain := get(nil)
		raw, _ := io.ReadAll(plain.Body)
		etag := plain.Header.Get("ETag")
		if plain.StatusCode != 200 || etag == "" || plain.Header.Get("Cache-Control") != "no-cache" || plain.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%s: status %d, ETag %q, Cache-Control %q, encoding %q", name, plain.StatusCode, etag, plain.Header.Get("Cache-Control"), plain.Header.Get("Content-Encoding"))
		}
		if !bytes.Equal(raw, e.s.assets[name].raw) {
			t.Fatalf("%s: body differs from the embedded file", name)
		}
		z := get(map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if z.Header.Get("Content-Encoding") != "gzip" || z.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%s: not gzipped: %v", name, z.Header)
		}
		zr, err := gzip.NewReader(z.Body)
		if err != nil {
			t.Fatal(err)
		}
		unz, _ := io.ReadAll(zr)
		if !bytes.Equal(unz, raw) {
			t.Fatalf("%s: gzipped body differs", name)
		}
		t.Logf("%s: %d bytes, %d gzipped", name, len(raw), len(e.s.assets[name].gz))
		if r := get(map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%s: gzipped although q=0", name)
		}
		again := get(map[string]string{"If-None-Match": etag})
		if b, _ := io.ReadAll(again.Body); again.StatusCode != http.StatusNotModified || len(b) != 0 {
			t.Fatalf("%s: revalidation gave %d with %d bytes", name, again.StatusCode, len(b))
		}
		if r := get(map[string]string{"If-None-Match": `"old"`}); r.StatusCode != 200 {
			t.Fatalf("%s: stale ETag gave %d", name, r.StatusCode)
		}
		// The pages' versioned link is cached for good; another version
		// (an older page's link) revalidates.
		for _, c := range []struct{ link, cache string }{
			{e.s.assetLinks[name], "public, max-age=31536000, immutable"},
			{"/static/" + name + "?v=old", "no-cache"},
		} {
			r, err := http.Get(e.srv.URL + c.link)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != 200 || r.Header.Get("Cache-Control") != c.cache || !bytes.Equal(b, e.s.assets[name].raw) {
				t.Fatalf("%s: %d, Cache-Control %q, %d bytes", c.link, r.StatusCode, r.Header.Get("Cache-Control"), len(b))
			}
		}
	}
	r, err := http.Get(e.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, n := range []string{"app.js", "app.css"} {
		if !bytes.Contains(html, []byte(`"`+e.s.assetLinks[n]+`"`)) {
			t.Fatalf("the login page does not link %s", e.s.assetLinks[n])
		}
	}
	if e.s.assets["app.js"].etag == e.s.assets["app.css"].etag {
		t.Fatal("ETag does not depend on the content")
	}
}

// TestFavicon: /favicon.ico is an ICO holding a 32×32 PNG (it was a 404),
// and the static folder does not serve made-up names.
func TestFavicon(t *testing.T) {
	e := newTestEnv(t)
	r, err := http.Get(e.srv.URL + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/x-icon" || len(b) < 22 || !bytes.Equal(b[:4], []byte{0, 0, 1, 0}) {
		t.Fatalf("favicon: %d %q % x", r.StatusCode, r.Header.Get("Content-Type"), b[:min(len(b), 8)])
	}
	img, err := png.Decode(bytes.NewReader(b[22:]))
	if err != nil || img.Bounds().Dx() != 32 {
		t.Fatalf("favicon image: %v", err)
	}
	for _, p := range []string{"/static/favicon.svg", "/static/nothing.js", "/static/favicon.ico"} {
		r, err := http.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if want := map[bool]int{true: 200, false: 404}[p == "/static/favicon.svg"]; r.StatusCode != want {
			t.Errorf("%s: %d, want %d", p, r.StatusCode, want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "gzip; q=0.000": false, "br": false, "x-gzip": false} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}

// FuzzStaticHeaders: the request headers the static files read never
// panic, and a header naming the ETag always matches.
func FuzzStaticHeaders(f *testing.F) {
	for _, s := range []string{"", "gzip", "gzip;q=0", "br, gzip;q=0.5", `"abc"`, `W/"abc", "def"`, "*", ";;,,q="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		acceptsGzip(h)
		etagMatch(h, `"x"`)
		if !etagMatch(h+`, "x"`, `"x"`) {
			t.Fatalf("%q plus the ETag does not match", h)
		}
	})
}
