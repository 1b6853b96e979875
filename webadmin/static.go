package webadmin

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"path"
	"strings"
)

// asset is one static file ready to serve: its bytes, the same gzipped
// (when that is smaller), and an ETag naming its content.
type asset struct {
	name, ctype, etag string
	// version names the content in the page's links (?v=version): such a
	// request is cached for good (a new firmware's page links a new
	// version), so a page opened again asks nothing for its script.
	version string
	raw, gz []byte
}

// assets are the embedded static files, hashed and compressed once at
// start, plus /favicon.ico (made from the logo at start).
type assets map[string]*asset

func loadAssets() (assets, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	out := assets{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return fmt.Errorf("static file %s: %w", p, err)
		}
		out[p] = newAsset(p, mime.TypeByExtension(path.Ext(p)), b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ico, err := faviconICO()
	if err != nil {
		return nil, fmt.Errorf("favicon: %w", err)
	}
	out["favicon.ico"] = newAsset("favicon.ico", "image/x-icon", ico)
	return out, nil
}

func newAsset(name, ctype string, b []byte) *asset {
	if ctype == "" {
		ctype = http.DetectContentType(b)
	}
	sum := sha256.Sum256(b)
	v := base64.RawURLEncoding.EncodeToString(sum[:12])
	a := &asset{name: name, ctype: ctype, raw: b, etag: `"` + v + `"`, version: v}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	if zw.Close() == nil && buf.Len() < len(b)*9/10 {
		a.gz = buf.Bytes()
	}
	return a
}

// serve answers GET/HEAD for a: under its versioned link (?v=version,
// as the pages link it) cached for a year without asking again; under
// any other, revalidated by ETag on every use (Cache-Control: no-cache,
// so a new firmware's script is never stale, while an unchanged one
// costs a 304). Gzipped when the client accepts it.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	if r.URL.Query().Get("v") == a.version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Set("ETag", a.etag)
	if a.gz != nil {
		hd.Set("Vary", "Accept-Encoding")
	}
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.raw
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// etagMatch reports whether an If-None-Match header names etag (weak
// comparison: a proxy may have marked it W/).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding: gzip unless its q is 0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		f := strings.Split(part, ";")
		if !strings.EqualFold(strings.TrimSpace(f[0]), "gzip") {
			continue
		}
		for _, p := range f[1:] {
			if q, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok && strings.Trim(q, "0.") == "" {
				return false
			}
		}
		return true
	}
	return false
}

func (s *Server) static(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	a := s.assets[strings.TrimPrefix(r.URL.Path, "/static/")]
	if a == nil || a.name == "favicon.ico" {
		s.notFound(w, r, rc.lang)
		return
	}
	a.serve(w, r)
}

func (s *Server) favicon(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.assets["favicon.ico"].serve(w, r)
}

// faviconICO draws the logo (an eye on the header's dark square) at 32×32
// and wraps the PNG in an ICO container, which every browser reads at
// /favicon.ico.
func faviconICO() ([]byte, error) {
	const n = 32
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	dark := color.NRGBA{0x1d, 0x23, 0x30, 0xff}
	red := color.NRGBA{0xb3, 0x26, 0x1e, 0xff}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			fx, fy := float64(x)+0.5-n/2, float64(y)+0.5-n/2
			c := dark
			// The eye: the intersection of two discs (a lens shape).
			if math.Hypot(fx, fy-13) < 20 && math.Hypot(fx, fy+13) < 20 {
				c = color.NRGBA{0xff, 0xff, 0xff, 0xff}
			}
			if r := math.Hypot(fx, fy); r < 5.5 {
				c = red
				if r < 2.3 {
					c = dark
				}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var p bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	// ICONDIR: reserved, type 1 (icon), one image.
	_ = binary.Write(&b, binary.LittleEndian, [3]uint16{0, 1, 1})
	// ICONDIRENTRY: width, height, colours, reserved, planes, bpp, size, offset.
	b.Write([]byte{n, n, 0, 0})
	_ = binary.Write(&b, binary.LittleEndian, [2]uint16{1, 32})
	_ = binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(p.Len()), 6 + 16})
	b.Write(p.Bytes())
	return b.Bytes(), nil
}
