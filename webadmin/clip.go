package webadmin

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/matthan/matthan/daemon/audit"
)

// A clip is an MP4 of up to maxClip of one camera the user may watch (a
// household: its own), for keeping or sending. It is made by the same
// signed export as an officer's evidence (one path for every file that
// leaves the box): the box signs its manifest and keeps it for ExportKeep
// beside the clip, and the audit line ("download") holds the clip's
// SHA-256, so an officer can later verify a clip a household hands over.
// The household gets the MP4 alone: manifests and evidence exports stay
// with officers.
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
	id, res, ok := s.pageExport(w, r, rc, from, to, audit.Download, nil)
	if !ok {
		return
	}
	f, err := os.Open(filepath.Join(s.exportDir, id, ClipFileName))
	if err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Disposition", `attachment; filename="`+res.Manifest.File+`"`)
	w.Header().Set("Content-Length", strconv.FormatInt(res.Manifest.Bytes, 10))
	w.Header().Set("Cache-Control", "no-store")
	io.Copy(w, f)
}
