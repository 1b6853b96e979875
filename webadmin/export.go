package webadmin

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"github.com/matthan/matthan/daemon/evidence"
)

type eventsEvent = events.Event

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
	fail := func(status int, key string, args ...any) {
		os.RemoveAll(dir)
		s.jsonError(w, rc, status, key, args...)
	}
	file := exportFileName(rc.camera, from, to, s.loc)
	f, err := os.Create(filepath.Join(dir, "clip.mp4"))
	if err != nil {
		fail(http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	h := sha256.New()
	job, done := s.trackExport(r, rc, from, to) // progress for the page (exportprogress.go)
	defer done()
	cw := &countWriter{w: io.MultiWriter(f, h, job)}
	cov, err := s.cfg.Exporter.Export(r.Context(), rc.camera, from, to, cw)
	covered := cov.Intervals
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fail(http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	if len(covered) == 0 || cw.n == 0 {
		// A file without a picture is no evidence: nothing is signed.
		fail(http.StatusNotFound, "err_no_video")
		return
	}
	requested := evidence.Interval{From: from, To: to}
	gaps := evidence.Gaps(requested, covered, evidence.GapThreshold)
	set, _ := s.cams.Get(rc.camera)
	sum := hex.EncodeToString(h.Sum(nil))
	// The audit line comes first: an export the log does not hold is
	// never handed out.
	rec, err := s.audit.Append(audit.Record{Actor: rc.user.Name, Role: string(rc.user.Role), IP: clientIP(r), Action: audit.Export, Camera: rc.camera,
		Detail: fmt.Sprintf("%s..%s sha256=%s gaps=%d", from.In(s.loc).Format(time.RFC3339), to.In(s.loc).Format(time.RFC3339), sum, len(gaps))})
	if err != nil {
		s.log.Error("export refused: audit append failed", "err", err)
		fail(http.StatusInternalServerError, "err_internal", "audit")
		return
	}
	headSeq, headHash := s.audit.Head()
	m := evidence.Manifest{Camera: rc.camera, CameraName: set.Name, Requested: requested, Intervals: covered, Gaps: gaps,
		ExportedBy: rc.user.Name, Role: string(rc.user.Role), Created: s.now(), File: file, Bytes: cw.n, SHA256: sum,
		AuditSeq: rec.Seq, Audit: evidence.AuditHead{Seq: headSeq, Hash: headHash}, ClockUnsynced: cov.ClockUnsynced}.InZone(s.loc)
	m, mb, sig, err := evidence.Sign(s.signKey, m)
	if err != nil {
		fail(http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), mb, 0o600); err != nil {
		fail(http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.sig"), []byte(sig+"\n"), 0o600); err != nil {
		fail(http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "manifest": m, "signature": sig,
		"video": "/api/exports/" + id + "/" + file, "manifestURL": "/api/exports/" + id + "/manifest.json", "signatureURL": "/api/exports/" + id + "/manifest.sig"})
}

// exportFileName names an export by its camera and its range in the box's
// zone, as people read them: cam1_2026-12-07_03-23-00_2026-12-07_03-33-00.mp4
// (the manifest beside it states the zone's offset).
func exportFileName(camera string, from, to time.Time, loc *time.Location) string {
	const layout = "2006-01-02_15-04-05"
	return fmt.Sprintf("%s_%s_%s.mp4", camera, from.In(loc).Format(layout), to.In(loc).Format(layout))
}

// BoxKeyFingerprint is the published fingerprint of the box key that signs
// exports (evidence.Fingerprint).
func (s *Server) BoxKeyFingerprint() string {
	return evidence.Fingerprint(s.signKey.Public().(ed25519.PublicKey))
}

// boxKeyPath is where any staff member downloads the box's public key.
const boxKeyPath = "/api/system/box-key.pem"

// apiBoxKey offers the box's public key (PEM) for download, for
// `matthan-verify --key FILE`.
func (s *Server) apiBoxKey(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="matthan-box-key.pem"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(evidence.PublicKeyPEM(s.signKey.Public().(ed25519.PublicKey)))
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
	var m evidence.Manifest
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
