package webadmin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/firmware/update"
)

// FirmwareUpdater is the box's firmware update as the system page uses
// it (technicians): the running release and the last attempt, receiving
// a bundle (checked while it uploads: signature, board, counter, every
// part), and installing the received bundle, after which the box reboots
// into the new slot's trial.
type FirmwareUpdater interface {
	Running() firmware.Release
	Last() (update.State, error)
	Receive(r io.Reader) (*bundle.Manifest, error)
	Install(ctx context.Context, progress func(line string)) error
}

// MaxUploadBody bounds the bundle upload route's body.
const MaxUploadBody = update.MaxBundle + 1<<20

// apiFirmware: the running release, the last attempt, and, after a
// rollback, the message the page shows.
func (s *Server) apiFirmware(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Firmware == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_no_updates")
		return
	}
	out := map[string]any{"release": s.cfg.Firmware.Running()}
	st, err := s.cfg.Firmware.Last()
	if err != nil {
		out["lastError"] = err.Error()
	} else if st.Phase != "" {
		out["last"] = st
		if st.Phase == update.RolledBack {
			out["message"] = update.RolledBackVI + " / " + update.RolledBackEN
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// apiFirmwareBundle receives an uploaded bundle (the raw file as the
// body) and answers its manifest for the technician to confirm.
func (s *Server) apiFirmwareBundle(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Firmware == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_no_updates")
		return
	}
	// The server bounds a whole request body to 30 s: a bundle over a
	// slow uplink takes longer, so the deadline moves on with each read
	// that brings bytes (a client that stops sending is still cut).
	rcw := http.NewResponseController(w)
	m, err := s.cfg.Firmware.Receive(&movingDeadline{r: r.Body, rc: rcw, step: DefaultTimeouts.Read})
	if err != nil {
		var rf *bundle.Refusal
		if errors.As(err, &rf) {
			s.auditAppend(r, rc, audit.FirmwareUpdate, "", "bundle refused: "+truncate(err.Error(), 200))
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{
				"error": rf.Vietnamese() + " / " + rf.English(), "code": "err_bundle_" + string(rf.Reason), "detail": fmt.Sprint(rf.Detail)})
			return
		}
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			s.auditAppend(r, rc, audit.FirmwareUpdate, "", "bundle refused: too large")
			s.jsonError(w, rc, http.StatusRequestEntityTooLarge, "err_bundle_too_large")
			return
		}
		s.auditAppend(r, rc, audit.FirmwareUpdate, "", "bundle upload failed: "+truncate(err.Error(), 200))
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err)
		return
	}
	s.auditAppend(r, rc, audit.FirmwareUpdate, "", fmt.Sprintf("bundle received: %s %s counter %d", m.Release.Board, m.Release.Version, m.Release.Counter))
	writeJSON(w, http.StatusOK, map[string]any{"manifest": m})
}

// apiFirmwareInstall installs the received bundle; the answer streams
// progress lines (text), and the box reboots after the last ("ok").
func (s *Server) apiFirmwareInstall(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Firmware == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_no_updates")
		return
	}
	s.auditAppend(r, rc, audit.FirmwareUpdate, "", "install requested")
	rcw := http.NewResponseController(w)
	rcw.SetWriteDeadline(time.Now().Add(15 * time.Minute))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := s.cfg.Firmware.Install(r.Context(), func(line string) {
		io.WriteString(w, line+"\n")
		rcw.Flush()
	})
	if err != nil {
		s.auditAppend(r, rc, audit.FirmwareUpdate, "", "install failed: "+truncate(err.Error(), 200))
		io.WriteString(w, "error: "+err.Error()+"\n")
		return
	}
	s.auditAppend(r, rc, audit.FirmwareUpdate, "", "installed; rebooting into the new slot's trial")
	io.WriteString(w, "ok\n")
}

// movingDeadline pushes the request's read deadline step ahead before
// every read.
type movingDeadline struct {
	r    io.Reader
	rc   *http.ResponseController
	step time.Duration
}

func (m *movingDeadline) Read(b []byte) (int, error) {
	m.rc.SetReadDeadline(time.Now().Add(m.step))
	return m.r.Read(b)
}
