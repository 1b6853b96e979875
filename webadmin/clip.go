package webadmin

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/matthan/matthan/daemon/audit"
)

// A clip is a plain MP4 of up to maxClip of one camera the user may watch
// (a household: its own), for keeping or sending: not the signed evidence
// export, which stays with officers. It is stitched by the same Exporter,
// into a temporary file, audited ("download") before a byte goes out, then
// removed.
const maxClip = 10 * time.Minute

// clipSlots bounds the clips stitched at once (each reads the recording
// disk and writes a temporary file): recording comes first.
var clipSlots = make(chan struct{}, 2)

func (s *Server) apiClip(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Exporter == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	from, to, ok := parseRange(r.URL.Query(), 1)
	if !ok || to.Sub(from) > maxClip {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_clip", int(maxClip/time.Minute))
		return
	}
	select {
	case clipSlots <- struct{}{}:
		defer func() { <-clipSlots }()
	default:
		w.Header().Set("Retry-After", "5")
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_clip_busy")
		return
	}
	if err := os.MkdirAll(s.exportDir, 0o700); err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	f, err := os.CreateTemp(s.exportDir, ".clip-*.mp4")
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cw := &countWriter{w: f}
	cov, err := s.cfg.Exporter.Export(r.Context(), rc.camera, from, to, cw)
	covered := cov.Intervals
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", fmt.Errorf("clip %s: %w", rc.camera, err))
		return
	}
	if len(covered) == 0 || cw.n == 0 {
		s.jsonError(w, rc, http.StatusNotFound, "err_no_video")
		return
	}
	lf, lt := from.In(s.loc), to.In(s.loc)
	if _, err := s.audit.Append(audit.Record{Actor: rc.user.Name, Role: string(rc.user.Role), IP: clientIP(r), Action: audit.Download, Camera: rc.camera,
		Detail: fmt.Sprintf("clip %s..%s %d bytes", lf.Format(time.RFC3339), lt.Format(time.RFC3339), cw.n)}); err != nil {
		s.log.Error("clip refused: audit append failed", "err", err)
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", "audit")
		return
	}
	name := fmt.Sprintf("%s_%s_%s.mp4", rc.camera, lf.Format("2006-01-02_15-04-05"), lt.Format("15-04-05"))
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Length", strconv.FormatInt(cw.n, 10))
	w.Header().Set("Cache-Control", "no-store")
	if _, err := f.Seek(0, io.SeekStart); err == nil {
		io.Copy(w, f)
	}
}
