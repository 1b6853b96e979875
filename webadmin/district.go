package webadmin

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/federation"
)

// The box's side of the district (daemon/federation): the technician's
// settings on the system page, and the clip requests of the district
// answered with the page's own signed export and audit log (Server
// implements federation.ClipMaker).

// DistrictLink is the box's connection to its district (webadmin/box
// runs it); nil: the page has no district settings.
type DistrictLink interface {
	Settings() federation.Config
	// Apply saves the settings and reconnects with them.
	Apply(federation.Config) error
	Status() DistrictStatus
}

// DistrictStatus is what the system page shows of the link.
type DistrictStatus struct {
	Connected bool   `json:"connected"`
	LastSeq   uint64 `json:"lastSeq"` // last event committed on the box
	Acked     uint64 `json:"acked"`   // last one the district acknowledged
	Error     string `json:"error,omitempty"`
}

// districtForm is the settings as the page shows them: the seed is
// write-only (seedSet says there is one; an empty seed keeps it).
type districtForm struct {
	URL         string `json:"url"`
	Box         string `json:"box"`
	NKeySeed    string `json:"nkeySeed,omitempty"`
	SeedSet     bool   `json:"seedSet"`
	CredsFile   string `json:"credsFile"`
	CAFile      string `json:"caFile"`
	DistrictKey string `json:"districtKey"`
}

func (s *Server) apiDistrict(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.District == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	c := s.cfg.District.Settings()
	writeJSON(w, http.StatusOK, map[string]any{"settings": districtForm{URL: c.URL, Box: c.Box, SeedSet: c.NKeySeed != "",
		CredsFile: c.CredsFile, CAFile: c.CAFile, DistrictKey: c.DistrictKey}, "status": s.cfg.District.Status(),
		"boxKeyFingerprint": s.BoxKeyFingerprint()})
}

func (s *Server) apiDistrictPut(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.District == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	var f districtForm
	if err := decodeJSON(r, &f); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	old := s.cfg.District.Settings()
	c := federation.Config{URL: f.URL, Box: f.Box, NKeySeed: f.NKeySeed, CredsFile: f.CredsFile, CAFile: f.CAFile, DistrictKey: f.DistrictKey}
	if c.NKeySeed == "" && c.CredsFile == "" {
		c.NKeySeed = old.NKeySeed // kept
	}
	for _, p := range []string{c.CredsFile, c.CAFile} {
		if p != "" && !filepath.IsAbs(p) {
			s.jsonError(w, rc, http.StatusBadRequest, "err_district", "file paths must be absolute")
			return
		}
	}
	if err := c.Validate(); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_district", err.Error())
		return
	}
	if err := s.cfg.District.Apply(c); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_district", err.Error())
		return
	}
	key := "none"
	if c.DistrictKey != "" {
		if b, err := base64.StdEncoding.DecodeString(c.DistrictKey); err == nil && len(b) == ed25519.PublicKeySize {
			key = evidence.Fingerprint(ed25519.PublicKey(b))
		}
	}
	s.auditAppend(r, rc, audit.Change, "", fmt.Sprintf("district link: %s as box %q, district key %s", c.URL, c.Box, key))
	writeJSON(w, http.StatusOK, map[string]any{"message": tr(rc.lang, "saved_district")})
}

// Shared implements federation.ClipMaker.
func (s *Server) Shared(camera string) (exists, shared bool) {
	set, ok := s.cams.Get(camera)
	if !ok {
		return false, false
	}
	return true, !set.NotShared
}

// MakeClip implements federation.ClipMaker: the page's signed export, in
// the audit log as the district officer.
func (s *Server) MakeClip(ctx context.Context, job federation.ClipJob) (federation.ClipFiles, error) {
	res, err := s.signedExport(ctx, exportRequest{Camera: job.Camera, From: job.From, To: job.To, Actor: job.Actor, Role: "district", Dir: job.Dir})
	if err != nil {
		return federation.ClipFiles{}, fmt.Errorf("export %s: %w", job.Camera, err)
	}
	return federation.ClipFiles{File: res.Manifest.File, Clip: filepath.Join(job.Dir, ClipFileName),
		Manifest: filepath.Join(job.Dir, "manifest.json"), Sig: filepath.Join(job.Dir, "manifest.sig")}, nil
}

// Audit implements federation.ClipMaker.
func (s *Server) Audit(actor, action, camera, detail string) {
	if _, err := s.audit.Append(audit.Record{Actor: actor, Role: "district", Action: action, Camera: s.auditCamera(camera), Detail: detail}); err != nil {
		s.log.Error("audit append failed", "err", err)
	}
}

// WorkDir implements federation.ClipMaker: exports waiting for upload.
func (s *Server) WorkDir() string { return filepath.Join(s.exportDir, "district") }

// BoxKey is the box's evidence key (the health record carries its public half).
func (s *Server) BoxKey() ed25519.PublicKey { return s.signKey.Public().(ed25519.PublicKey) }
