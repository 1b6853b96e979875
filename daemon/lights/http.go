package lights

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// State is the answer of GET /api/lights.
type State struct {
	IRStatus
	StatusLED string `json:"status_led,omitempty"`
}

// Handler serves /api/lights: GET returns the State; POST sets the IR mode
// from {"mode":"on|off|auto"} (JSON) or mode=... (form) and returns the new
// State. status may be nil.
func Handler(ir *IR, status *StatusLED) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPost:
			m, err := readMode(r)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			if err := ir.SetMode(m); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "chỉ dùng GET hoặc POST / only GET or POST"})
			return
		}
		s := State{IRStatus: ir.Status()}
		if status != nil {
			s.StatusLED = status.Get().String()
		}
		writeJSON(w, http.StatusOK, s)
	})
}

func readMode(r *http.Request) (Mode, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1024+1))
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if len(body) > 1024 {
		return "", fmt.Errorf("body over 1024 bytes")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var s string
	switch {
	case ct == "application/json" || (ct == "" && strings.HasPrefix(strings.TrimSpace(string(body)), "{")):
		var v struct {
			Mode string `json:"mode"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return "", fmt.Errorf("body is not {\"mode\": ...}: %w", err)
		}
		s = v.Mode
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return "", fmt.Errorf("form: %w", err)
		}
		s = vals.Get("mode")
		if s == "" {
			s = r.URL.Query().Get("mode")
		}
	}
	return ParseMode(s)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
