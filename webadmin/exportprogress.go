package webadmin

import (
	"context"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// An export takes seconds (minutes under load): the page names a progress
// token (?progress= or the form field) with its request and asks
// /api/exports/progress?id= twice a second how many bytes are written of
// about how many (the recordings' sizes in the range).
type exportJob struct {
	user    string
	written atomic.Int64
	total   int64
}

func (j *exportJob) Write(p []byte) (int, error) { j.written.Add(int64(len(p))); return len(p), nil }

// maxExportJobs bounds the table (a token is only kept while its export runs).
const maxExportJobs = 64

var (
	exportJobsMu sync.Mutex
	exportJobs   = map[string]*exportJob{}
	progressRE   = regexp.MustCompile(`^[0-9a-f]{16,32}$`)
)

// trackExport starts the progress of rc's export of camera over [from, to)
// if the request named a token; the writer counts what the export writes
// and done forgets it.
func (s *Server) trackExport(r *http.Request, rc *reqCtx, from, to time.Time) (w *exportJob, done func()) {
	id := r.FormValue("progress")
	j := &exportJob{user: rc.user.Name}
	if s.cfg.Segments != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		if segs, err := s.cfg.Segments.Segments(ctx, rc.camera, from, to); err == nil {
			for _, g := range segs {
				j.total += g.Bytes
			}
		}
		cancel()
	}
	if !progressRE.MatchString(id) {
		return j, func() {}
	}
	key := rc.user.Name + "/" + id
	exportJobsMu.Lock()
	defer exportJobsMu.Unlock()
	if len(exportJobs) >= maxExportJobs {
		return j, func() {}
	}
	exportJobs[key] = j
	return j, func() {
		exportJobsMu.Lock()
		delete(exportJobs, key)
		exportJobsMu.Unlock()
	}
}

func (s *Server) apiExportProgress(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	exportJobsMu.Lock()
	j := exportJobs[rc.user.Name+"/"+r.URL.Query().Get("id")]
	exportJobsMu.Unlock()
	if j == nil {
		writeJSON(w, http.StatusOK, map[string]any{"running": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"running": true, "written": j.written.Load(), "total": j.total})
}
