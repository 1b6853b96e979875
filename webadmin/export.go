package webadmin

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/events"
)

type eventsEvent = events.Event

// LoadOrCreateSigningKey reads the box's ed25519 export-signing key (PKCS#8
// PEM), making it on first boot.
func LoadOrCreateSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("signing key %s: not PEM", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key %s: not ed25519", path)
		}
		return ek, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := auth.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return k, nil
}

// Manifest describes one exported clip for evidence. The box signs its JSON
// bytes (manifest.json) with ed25519; manifest.sig holds the signature.
type Manifest struct {
	Camera     string    `json:"camera"`
	CameraName string    `json:"cameraName"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	ExportedBy string    `json:"exportedBy"`
	Role       string    `json:"role"`
	Created    time.Time `json:"created"`
	File       string    `json:"file"`
	Bytes      int64     `json:"bytes"`
	SHA256     string    `json:"sha256"`
	PublicKey  string    `json:"publicKey"` // base64 ed25519 public key of the box
	AuditSeq   uint64    `json:"auditSeq"`
}

// VerifyManifest checks a manifest's signature against the key it names.
func VerifyManifest(manifestJSON []byte, sigB64 string) (Manifest, bool) {
	var m Manifest
	if json.Unmarshal(manifestJSON, &m) != nil {
		return m, false
	}
	pub, err1 := base64.StdEncoding.DecodeString(m.PublicKey)
	sig, err2 := base64.StdEncoding.DecodeString(sigB64)
	if err1 != nil || err2 != nil || len(pub) != ed25519.PublicKeySize {
		return m, false
	}
	return m, ed25519.Verify(pub, manifestJSON, sig)
}

var exportIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

const maxExportHours = 6

func (s *Server) apiExport(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Exporter == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	q := r.URL.Query()
	if r.PostFormValue("from") != "" {
		q = r.PostForm
	}
	from, to, ok := parseRange(q, maxExportHours)
	if !ok {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_range", maxExportHours)
		return
	}
	s.sweepExports()
	id := hex.EncodeToString([]byte(auth.RandomToken(12)))[:32]
	dir := filepath.Join(s.exportDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	file := fmt.Sprintf("%s_%s_%s.mp4", rc.camera, from.UTC().Format("20060102T150405Z"), to.UTC().Format("20060102T150405Z"))
	f, err := os.Create(filepath.Join(dir, "clip.mp4"))
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	err = s.cfg.Exporter.Export(r.Context(), rc.camera, from, to, cw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || cw.n == 0 {
		os.RemoveAll(dir)
		if err == nil {
			s.jsonError(w, rc, http.StatusNotFound, "err_no_video")
			return
		}
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	set, _ := s.cams.get(rc.camera)
	sum := hex.EncodeToString(h.Sum(nil))
	rec, _ := s.audit.Append(audit.Record{Actor: rc.user.Name, Role: string(rc.user.Role), IP: clientIP(r), Action: audit.Export, Camera: rc.camera,
		Detail: fmt.Sprintf("%s..%s sha256=%s", from.Format(time.RFC3339), to.Format(time.RFC3339), sum)})
	m := Manifest{Camera: rc.camera, CameraName: set.Name, From: from, To: to, ExportedBy: rc.user.Name, Role: string(rc.user.Role),
		Created: s.now().UTC(), File: file, Bytes: cw.n, SHA256: sum,
		PublicKey: base64.StdEncoding.EncodeToString(s.signKey.Public().(ed25519.PublicKey)), AuditSeq: rec.Seq}
	mb, _ := json.MarshalIndent(m, "", "  ")
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(s.signKey, mb))
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), mb, 0o600); err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.sig"), []byte(sig+"\n"), 0o600); err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "manifest": m, "signature": sig,
		"video": "/api/exports/" + id + "/" + file, "manifestURL": "/api/exports/" + id + "/manifest.json", "signatureURL": "/api/exports/" + id + "/manifest.sig"})
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *Server) apiExportFile(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id, file := r.PathValue("id"), r.PathValue("file")
	if !exportIDRE.MatchString(id) {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	dir := filepath.Join(s.exportDir, id)
	mb, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	var m Manifest
	if json.Unmarshal(mb, &m) != nil {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	var path, ctype string
	switch file {
	case m.File:
		path, ctype = filepath.Join(dir, "clip.mp4"), "video/mp4"
	case "manifest.json":
		path, ctype = filepath.Join(dir, "manifest.json"), "application/json"
	case "manifest.sig":
		path, ctype = filepath.Join(dir, "manifest.sig"), "text/plain"
	default:
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.jsonError(w, rc, http.StatusNotFound, "err_not_found")
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, file))
	http.ServeContent(w, r, file, st.ModTime(), f)
}

// ExportKeep is how long an export stays on the box for download; the
// evidence copy belongs on the officer's own storage, not on the SD card.
const ExportKeep = 24 * time.Hour

// sweepExports removes exports older than ExportKeep.
func (s *Server) sweepExports() {
	ents, err := os.ReadDir(s.exportDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !exportIDRE.MatchString(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && s.now().Sub(info.ModTime()) > ExportKeep {
			os.RemoveAll(filepath.Join(s.exportDir, e.Name()))
		}
	}
}
