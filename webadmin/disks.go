package webadmin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/disks"
)

// apiDisks lists the USB disks, where recordings go and the alarm.
func (s *Server) apiDisks(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Disks == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Disks.Status())
}

// apiDiskConfirm makes a disk the recording disk (formatting it unless it
// already is one). Technicians only; audited before (what is about to be
// done) and after (how it went).
func (s *Server) apiDiskConfirm(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Disks == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	var req struct {
		ID string `json:"id"`
	}
	if err := decodeJSON(r, &req); err != nil || req.ID == "" || len(req.ID) > 256 {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", "id")
		return
	}
	what := req.ID
	for _, d := range s.cfg.Disks.Status().Disks {
		if d.ID == req.ID {
			what = fmt.Sprintf("%s %s %s, %d GB, serial %s, held %s", d.Name, d.Vendor, d.Model, d.SizeBytes/1e9, d.Serial, d.Content)
		}
	}
	s.auditAppend(r, rc, audit.Change, "", "recording disk confirmed: "+what)
	// Not the request's context: a browser closing mid-format must not
	// cut mke2fs off.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := s.cfg.Disks.Confirm(ctx, req.ID); err != nil {
		s.auditAppend(r, rc, audit.Change, "", "recording disk not prepared: "+err.Error())
		status := http.StatusInternalServerError
		if errors.Is(err, disks.ErrNotConfirmable) || errors.Is(err, disks.ErrNotFound) {
			status = http.StatusConflict
		}
		s.jsonError(w, rc, status, "err_disk", err.Error())
		return
	}
	s.auditAppend(r, rc, audit.Change, "", "recording disk in use: "+what)
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "disk_ready")})
}

// apiDiskForget makes the box record to the card by choice after its
// recording disk was lost (ends the alarm). Technicians only, audited.
func (s *Server) apiDiskForget(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Disks == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	if err := s.cfg.Disks.Forget(); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, disks.ErrNotConfirmable) {
			status = http.StatusConflict
		}
		s.jsonError(w, rc, status, "err_disk", err.Error())
		return
	}
	s.auditAppend(r, rc, audit.Change, "", "recording disk forgotten: recording to the SD card")
	writeJSON(w, http.StatusOK, map[string]string{"message": tr(rc.lang, "disk_forgotten")})
}
