package box

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/app"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/federation"
	"github.com/matthan/matthan/webadmin"
	"github.com/matthan/matthan/webadmin/adapt"
)

// districtLink runs the box side of the district (daemon/federation) with
// the settings the technician saved (DATA/web/district.json): the core's
// event log as outbox, the page's signed export for clips, the page's
// system stats and the core's cameras for the health record.
type districtLink struct {
	path  string
	core  *app.Core
	page  *webadmin.Server
	stats *adapt.Stats
	log   *slog.Logger

	mu      sync.Mutex
	cfg     federation.Config
	box     *federation.Box
	err     string
	lastVB  map[string]uint64
	lastAt  time.Time
	healthE time.Duration // tests
}

func newDistrictLink(dataDir string, core *app.Core, stats *adapt.Stats, log *slog.Logger) *districtLink {
	l := &districtLink{path: filepath.Join(dataDir, federation.ConfigFile), core: core, stats: stats, log: log.With("component", "district")}
	cfg, err := federation.LoadConfig(l.path)
	if err != nil {
		l.log.Error("district settings unreadable: not connected", "err", err)
		l.err = err.Error()
	}
	l.cfg = cfg
	core.Outbox.SetEnabled(cfg.Enabled())
	return l
}

// start connects with the saved settings (after the page exists: it
// answers the clip requests).
func (l *districtLink) start(page *webadmin.Server) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.page = page
	l.restartLocked()
}

func (l *districtLink) restartLocked() {
	if l.box != nil {
		l.box.Close()
		l.box = nil
	}
	l.core.Outbox.SetEnabled(l.cfg.Enabled())
	if !l.cfg.Enabled() {
		return
	}
	b, err := federation.StartBox(federation.BoxOptions{Config: l.cfg, Outbox: l.core.Index, Cursor: l.core.Outbox,
		Health: l.health, HealthEvery: l.healthE, Clips: l.page,
		Logf: func(f string, a ...any) { l.log.Info(strings.TrimPrefix(fmt.Sprintf(f, a...), "federation: ")) }})
	if err != nil {
		l.err = err.Error()
		l.log.Error("district link not started", "err", err)
		return
	}
	l.err = ""
	l.box = b
}

func (l *districtLink) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.box != nil {
		l.box.Close()
		l.box = nil
	}
}

// Settings implements webadmin.DistrictLink.
func (l *districtLink) Settings() federation.Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// Apply implements webadmin.DistrictLink.
func (l *districtLink) Apply(c federation.Config) error {
	if err := federation.SaveConfig(l.path, c); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = c
	l.restartLocked()
	return nil
}

// Status implements webadmin.DistrictLink.
func (l *districtLink) Status() webadmin.DistrictStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := webadmin.DistrictStatus{LastSeq: l.core.Index.LastSeq(), Acked: l.core.Outbox.Acked(), Error: l.err}
	if l.box != nil {
		st.Connected = l.box.Connected()
	}
	return st
}

// health is the record published every minute.
func (l *districtLink) health() federation.Health {
	ss := l.stats.SystemStats()
	h := federation.Health{Version: ss.Version, UptimeSec: int64(ss.Uptime), DiskTotal: uint64(max(ss.DiskTotal, 0)),
		DiskFree: uint64(max(ss.DiskTotal-ss.DiskUsed, 0)), TempC: ss.TempC}
	if l.page != nil {
		pub := l.page.BoxKey()
		h.KeyFingerprint, h.PublicKey = evidence.Fingerprint(pub), base64.StdEncoding.EncodeToString(pub)
	}
	now := time.Now()
	l.mu.Lock()
	prev, dt := l.lastVB, now.Sub(l.lastAt).Seconds()
	l.lastVB, l.lastAt = map[string]uint64{}, now
	l.mu.Unlock()
	names := map[string]string{}
	shared := map[string]bool{}
	if l.core.Records != nil {
		for _, r := range l.core.Records.List() {
			names[r.ID], shared[r.ID] = r.Name, !r.NotShared
		}
	}
	online := map[string]bool{}
	for _, st := range l.core.CameraStates() {
		online[st.ID] = st.Online
	}
	for _, c := range l.core.Diag().Cameras() {
		ch := federation.CameraHealth{ID: c.Name, Name: names[c.Name], Online: online[c.Name], Shared: shared[c.Name]}
		if _, ok := shared[c.Name]; !ok {
			ch.Shared = true
		}
		if p, ok := prev[c.Name]; ok && dt > 0 && c.Stats.VideoBytes >= p {
			ch.BitrateKbps = float64(c.Stats.VideoBytes-p) * 8 / 1000 / dt
		}
		l.mu.Lock()
		l.lastVB[c.Name] = c.Stats.VideoBytes
		l.mu.Unlock()
		h.Cameras = append(h.Cameras, ch)
	}
	return h
}
