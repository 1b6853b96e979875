// Package district is the district police's page: the boxes of the
// communes and their cameras up or down, the events of every box
// searchable in one place, and the clips fetched from the boxes with
// their manifests verified. It has its own accounts (district officers;
// a technician manages them), sessions and audit log (who fetched and
// downloaded what), built on the box page's own packages (daemon/auth
// for accounts, sessions, the login gate and CSRF; daemon/audit for the
// log), and one route table (routes.go) where every route names its
// role rule, like webadmin's. The core is daemon/federation.District;
// daemon/cmd/matthan-district runs both.
package district

import (
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/federation"
	"github.com/matthan/matthan/daemon/search"
)

// Core is what the page needs of the district side (*federation.District).
type Core interface {
	Boxes() []federation.BoxState
	FetchClip(ctx context.Context, officer, box, camera string, from, to time.Time) (*federation.FetchedClip, error)
	Clips() []federation.FetchedClip
	PublicKey() string
	Trust(box, fingerprint string) error
}

// Config is what New needs.
type Config struct {
	// DataDir holds the accounts, sessions and the audit log.
	DataDir string
	Core    Core
	Index   *search.Index
	// Key signs the audit log's heads (the district key).
	Key ed25519.PrivateKey
	// FetchTimeout bounds one clip fetch (default 10 min).
	FetchTimeout    time.Duration
	HashParams      auth.HashParams
	InsecureCookies bool
	Logger          *slog.Logger
	Location        *time.Location
}

// Server is the district page, an http.Handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *auth.Store
	sessions *auth.Sessions
	gate     *auth.Gate
	audit    *audit.Log
	tmpl     *template.Template
	mux      *http.ServeMux
	routes   []route
	loc      *time.Location
	fetches  fetches
}

//go:embed templates/*.html
var templateFS embed.FS

// New opens the page's accounts and audit log.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" || cfg.Core == nil || cfg.Index == nil {
		return nil, errors.New("district: DataDir, Core and Index are required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("district: %w", err)
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 10 * time.Minute
	}
	s := &Server{cfg: cfg, log: cfg.Logger, loc: cfg.Location}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.loc == nil {
		s.loc, _ = evidence.Zone("")
	}
	var err error
	if s.store, err = auth.OpenStore(filepath.Join(cfg.DataDir, "accounts.json"), cfg.HashParams); err != nil {
		return nil, fmt.Errorf("district: %w", err)
	}
	s.sessions = auth.NewSessions()
	s.gate = &auth.Gate{Store: s.store, Throttle: auth.NewThrottle()}
	aopts := audit.Options{Location: s.loc}
	if cfg.Key != nil {
		aopts.Sign = func(m []byte) []byte { return ed25519.Sign(cfg.Key, m) }
		aopts.PublicKey = cfg.Key.Public().(ed25519.PublicKey)
	}
	if s.audit, err = audit.Open(filepath.Join(cfg.DataDir, "audit.log"), aopts); err != nil {
		return nil, fmt.Errorf("district: %w", err)
	}
	s.tmpl, err = template.New("").Funcs(template.FuncMap{
		"t":    s.fmtTime,
		"kbps": func(f float64) string { return fmt.Sprintf("%.0f kbit/s", f) },
		"gb":   func(n uint64) string { return fmt.Sprintf("%.1f GB", float64(n)/1e9) },
		"deref": func(p *float64) float64 {
			if p == nil {
				return 0
			}
			return *p
		},
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("district: templates: %w", err)
	}
	s.buildRoutes()
	return s, nil
}

// CreateUser adds an account (the command's -add-user; technicians add
// officers on the page).
func (s *Server) CreateUser(name, password string, role auth.Role) error {
	return s.store.CreateUser(name, password, role, "")
}

// Close closes the audit log.
func (s *Server) Close() error { return s.audit.Close() }

func (s *Server) fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(s.loc).Format("2006-01-02 15:04:05")
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("district page: panic", "path", r.URL.Path, "panic", v)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}
