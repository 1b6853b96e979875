package search

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// AllowedCameras tells which cameras the user behind a request may see: nil
// means all of them, an empty non-nil list none.
type AllowedCameras func(r *http.Request) []string

// Handler serves GET /api/events/search?q=&from=&to=&camera=&type=&page=&size=
// as JSON (a Result). Malformed parameters get 400 with {"error": "..."}.
func Handler(x *Index, allowed AllowedCameras) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, errors.New("chỉ dùng GET / only GET"))
			return
		}
		q, err := ParseQuery(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if allowed != nil {
			q.Allowed = allowed(r)
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		res, err := x.Search(ctx, q)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(res)
	})
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
