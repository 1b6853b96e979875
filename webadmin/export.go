package webadmin

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/firmware/atomicfile"
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
	job, done := s.trackExport(r, rc, from, to) // progress for the page (exportprogress.go)
	defer done()
	id, res, ok := s.pageExport(w, r, rc, from, to, audit.Export, job)
	if !ok {
		return
	}
	file := res.Manifest.File
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "manifest": res.Manifest, "signature": res.Signature,
		"video": "/api/exports/" + id + "/" + file, "manifestURL": "/api/exports/" + id + "/manifest.json", "signatureURL": "/api/exports/" + id + "/manifest.sig"})
}

// pageExport runs the signed export for the page's user into a new export
// folder (an officer's evidence, or a household's clip with action
// audit.Download) and answers a refusal itself (ok false).
func (s *Server) pageExport(w http.ResponseWriter, r *http.Request, rc *reqCtx, from, to time.Time, action string, progress io.Writer) (id string, res exportResult, ok bool) {
	s.sweepExports()
	id = hex.EncodeToString([]byte(auth.RandomToken(12)))[:32]
	res, err := s.signedExport(r.Context(), exportRequest{Camera: rc.camera, From: from, To: to,
		Actor: rc.user.Name, Role: string(rc.user.Role), IP: clientIP(r), Dir: filepath.Join(s.exportDir, id), Progress: progress, Action: action})
	if err != nil {
		var ee *exportError
		if errors.As(err, &ee) {
			s.jsonError(w, rc, ee.status, ee.key, ee.args...)
		} else {
			s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", fmt.Errorf("export %s: %w", rc.camera, err))
		}
		return id, res, false
	}
	return id, res, true
}

// ClipFileName is the clip's name in an export folder (the manifest's File
// is the name it is downloaded as).
const ClipFileName = "clip.mp4"

// exportRequest is one signed export: the officer on the page, or the
// district through the box (webadmin/district.go).
type exportRequest struct {
	Camera          string
	From, To        time.Time
	Actor, Role, IP string
	Dir             string    // made; holds the clip, manifest.json and manifest.sig
	Progress        io.Writer // nil: none
	// Action is the audit action: audit.Export for evidence (officers,
	// the district), audit.Download for a household's clip.
	Action string
}

// exportResult is what signedExport wrote in Dir.
type exportResult struct {
	Manifest  evidence.Manifest
	Signature string
}

// exportError is a refusal the page states with its message key.
type exportError struct {
	status int
	key    string
	args   []any
}

func (e *exportError) Error() string { return e.key }

// signedExport writes a camera's range as one MP4 with its manifest signed
// by the box key; the audit record comes first (an export the log does
// not hold is never handed out). On failure Dir is removed.
func (s *Server) signedExport(ctx context.Context, req exportRequest) (res exportResult, err error) {
	if s.cfg.Exporter == nil {
		return res, &exportError{status: http.StatusServiceUnavailable, key: "err_unavailable"}
	}
	if err := os.MkdirAll(req.Dir, 0o700); err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(req.Dir)
		}
	}()
	file := exportFileName(req.Camera, req.From, req.To, s.loc)
	f, err := os.Create(filepath.Join(req.Dir, ClipFileName))
	if err != nil {
		return res, err
	}
	h := sha256.New()
	ws := []io.Writer{f, h}
	if req.Progress != nil {
		ws = append(ws, req.Progress)
	}
	cov, err := s.cfg.Exporter.Export(ctx, req.Camera, req.From, req.To, io.MultiWriter(ws...))
	covered := cov.Intervals
	// The manifest states the size of the file as written.
	size, serr := f.Seek(0, io.SeekCurrent)
	if err == nil {
		err = serr
	}
	if err := atomicfile.SyncClose(f, err); err != nil {
		return res, err
	}
	if len(covered) == 0 || size == 0 {
		// A file without a picture is no evidence: nothing is signed.
		return res, &exportError{status: http.StatusNotFound, key: "err_no_video"}
	}
	requested := evidence.Interval{From: req.From, To: req.To}
	gaps := evidence.Gaps(requested, covered, evidence.GapThreshold)
	set, _ := s.cams.Get(req.Camera)
	sum := hex.EncodeToString(h.Sum(nil))
	action := req.Action
	if action == "" {
		action = audit.Export
	}
	rec, err := s.audit.Append(audit.Record{Actor: req.Actor, Role: req.Role, IP: req.IP, Action: action, Camera: req.Camera,
		Detail: fmt.Sprintf("%s..%s sha256=%s gaps=%d", req.From.In(s.loc).Format(time.RFC3339), req.To.In(s.loc).Format(time.RFC3339), sum, len(gaps))})
	if err != nil {
		s.log.Error("export refused: audit append failed", "err", err)
		return res, fmt.Errorf("audit: %w", err)
	}
	headSeq, headHash := s.audit.Head()
	m := evidence.Manifest{Camera: req.Camera, CameraName: set.Name, Requested: requested, Intervals: covered, Gaps: gaps,
		ExportedBy: req.Actor, Role: req.Role, Created: s.now(), File: file, Bytes: size, SHA256: sum,
		AuditSeq: rec.Seq, Audit: evidence.AuditHead{Seq: headSeq, Hash: headHash}, ClockUnsynced: cov.ClockUnsynced, Tracks: fileTracks(filepath.Join(req.Dir, ClipFileName))}.InZone(s.loc)
	m, mb, sig, err := evidence.Sign(s.signKey, m)
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(req.Dir, "manifest.json"), mb, 0o600); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(req.Dir, "manifest.sig"), []byte(sig+"\n"), 0o600); err != nil {
		return res, err
	}
	return exportResult{Manifest: m, Signature: sig}, nil
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
		path, ctype = filepath.Join(dir, ClipFileName), "video/mp4"
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

// fileTracks lists the tracks of an exported file from its init segment
// (nil if it does not parse: the manifest then names none).
func fileTracks(path string) []evidence.Track {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	l, err := fmp4.ScanSegment(io.NewSectionReader(f, 0, fi.Size()), min(fi.Size(), 1<<20))
	if err != nil {
		return nil
	}
	tr := []evidence.Track{{Kind: "video", Codec: l.Init.SampleEntry}}
	if a := l.Init.Audio; a != nil {
		tr = append(tr, evidence.Track{Kind: "audio", Codec: a.SampleEntry, SampleRate: int(a.Timescale), Channels: a.Channels})
	}
	return tr
}
