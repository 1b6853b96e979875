// Package timesync keeps the box's own clock true, and says how far it
// can be trusted. A Raspberry Pi has no RTC: after a power cut init sets
// the clock from the RTC if one is fitted, else from the image's build
// date, then from the last known good time kept on the data partition
// (Restore). The Discipline then asks NTP servers on the uplink
// (daemon/ntp):
//
//   - a clock behind by more than StepThreshold is stepped forward at once
//     (the first sync after boot, usually): the step is counted, and the
//     store marks the segments open across it;
//   - smaller corrections, and every correction of a clock that is ahead,
//     are slewed: the clock is never stepped backwards; while it is still
//     ahead by more than MaxError it counts as unsynchronised, and the
//     segments recorded meanwhile say so;
//   - the time is written to the data partition every minute and at
//     shutdown (it never moves back there either), and to the RTC once
//     synchronised.
//
// When no source can be trusted, an officer can set the time from the
// page (SetByOfficer): forward by a step, backwards only by a slew of at
// most MaxOfficerBack.
package timesync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/ntp"
	"github.com/matthan/matthan/daemon/positive"
)

// Defaults for Config's zero fields.
const (
	DefaultStepThreshold = 500 * time.Millisecond
	DefaultMaxError      = time.Second
	DefaultHoldover      = 24 * time.Hour
	DefaultPoll          = 5 * time.Minute
	DefaultRetry         = 15 * time.Second
	// MaxRetry bounds the unsynchronised retry's backoff.
	MaxRetry            = 2 * time.Minute
	DefaultPersistEvery = time.Minute
	// MaxOfficerBack is the most an officer may set the clock back: it
	// is slewed (at 5 %, in 40 min), never stepped.
	MaxOfficerBack = 2 * time.Minute
	// rtcEvery: the RTC is written back at most this often.
	rtcEvery = time.Hour
)

// DefaultServers are the uplink's NTP servers unless configured otherwise;
// the uplink's default gateway is asked too (Servers).
var DefaultServers = []string{"0.vn.pool.ntp.org", "1.vn.pool.ntp.org", "0.asia.pool.ntp.org", "1.asia.pool.ntp.org"}

// Syncer measures the clock's offset from several servers (*ntp.Client).
type Syncer interface {
	Sync(ctx context.Context, servers []string) (ntp.Result, error)
}

// Config of a Discipline.
type Config struct {
	// Clock is the system clock to drive; nil watches only (host mode:
	// the host's clock is not ours to set): offsets are measured and
	// reported, never applied.
	Clock Clock
	// Syncer asks the servers; nil means an ntp.Client with its defaults
	// reading Clock (a Syncer given must read the same clock).
	Syncer Syncer
	// Servers lists the NTP servers to ask (host or host:port); nil
	// means none (no NTP). See Servers for the default list.
	Servers func() []string
	// DataDir holds LastGoodFile; "" keeps no mark.
	DataDir string
	// BootFile is init's record of how it set the clock ("" or missing:
	// the clock's source is unknown, unsynchronised).
	BootFile string
	// RTC, if set, is written back once synchronised.
	RTC RTC
	// Now is the clock read when Clock is nil; nil means time.Now.
	Now func() time.Time

	StepThreshold, MaxError, Holdover time.Duration
	Poll, Retry, PersistEvery         time.Duration

	Logf func(format string, args ...any)
}

// Status is what the page shows.
type Status struct {
	Synced bool   `json:"synced"`
	Source Source `json:"source"`
	// Server is the NTP server the last sync followed; By the officer who
	// set the time.
	Server string `json:"server,omitempty"`
	By     string `json:"by,omitempty"`
	// SetAt: when the source last set or confirmed the clock.
	SetAt time.Time `json:"setAt"`
	// Offset is the last correction measured (positive: the clock was
	// behind); Slewing what is still being slewed.
	Offset  time.Duration `json:"offsetNs"`
	Slewing time.Duration `json:"slewingNs"`
	// Steps counts forward steps since the daemon started.
	Steps     uint64    `json:"steps"`
	LastError string    `json:"lastError,omitempty"`
	Servers   []string  `json:"servers"`
	Now       time.Time `json:"now"`
	// Watching: host mode, the clock is measured but not driven.
	Watching bool `json:"watching,omitempty"`
}

// Discipline drives the box's clock. Its methods are safe for concurrent
// use.
type Discipline struct {
	cfg    Config
	syncer Syncer
	kick   chan struct{}

	mu       sync.Mutex
	st       Status
	lastSync time.Time // monotonic reading of the last good sync
	upstream ntp.Upstream
	rtcAt    time.Time // last RTC write (monotonic)
	// stepped: the last sync stepped the clock; the next one comes
	// after Retry, not Poll, to check (and slew) what the step left.
	stepped bool
}

// New returns a Discipline; its status starts from init's boot record.
func New(cfg Config) *Discipline {
	cfg.StepThreshold = positive.Or(cfg.StepThreshold, DefaultStepThreshold)
	cfg.MaxError = positive.Or(cfg.MaxError, DefaultMaxError)
	cfg.Holdover = positive.Or(cfg.Holdover, DefaultHoldover)
	cfg.Poll = positive.Or(cfg.Poll, DefaultPoll)
	cfg.Retry = positive.Or(cfg.Retry, DefaultRetry)
	cfg.PersistEvery = positive.Or(cfg.PersistEvery, DefaultPersistEvery)
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Servers == nil {
		cfg.Servers = func() []string { return nil }
	}
	d := &Discipline{cfg: cfg, syncer: cfg.Syncer, kick: make(chan struct{}, 1)}
	if d.syncer == nil {
		d.syncer = &ntp.Client{Now: d.now}
	}
	d.st.Source = SourceBuild
	d.st.Watching = cfg.Clock == nil
	if d.st.Watching {
		// Host mode: the host keeps its own time; it counts as
		// synchronised until servers given measure it otherwise.
		d.st.Source, d.st.Synced = SourceHost, true
	}
	if cfg.BootFile != "" {
		if m, err := ReadMark(cfg.BootFile); err == nil {
			d.st.Source, d.st.SetAt = m.Source, m.Time
			if m.Synced {
				// An RTC that was written back when the box was last
				// synchronised keeps time (a DS3231: ±2 ppm).
				d.st.Synced, d.lastSync = true, time.Now()
			}
		}
	}
	return d
}

func (d *Discipline) now() time.Time {
	if d.cfg.Clock != nil {
		return d.cfg.Clock.Now()
	}
	if d.cfg.Now != nil {
		return d.cfg.Now()
	}
	return time.Now()
}

// Status returns the clock's state.
func (d *Discipline) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked()
	st := d.st
	st.Servers = d.cfg.Servers()
	st.Now = d.now()
	if d.cfg.Clock != nil {
		st.Slewing = d.cfg.Clock.Slewing()
	}
	return st
}

// Synced reports whether the clock is synchronised (for ntp.Server).
func (d *Discipline) Synced() bool { return d.Status().Synced }

// TimeState is the clock's trust as the store needs it: synchronised,
// and how many steps so far.
func (d *Discipline) TimeState() (synced bool, steps uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked()
	return d.st.Synced, d.st.Steps
}

// Upstream is the box's source as ntp.Server reports it.
func (d *Discipline) Upstream() ntp.Upstream {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.upstream
}

func (d *Discipline) expireLocked() {
	if d.st.Watching && d.st.Server == "" {
		return // the host's clock, never measured: trusted as it is
	}
	if d.st.Synced && time.Since(d.lastSync) > d.cfg.Holdover {
		d.st.Synced = false
		d.cfg.Logf("timesync: no good sync for %v: clock unsynchronised", d.cfg.Holdover)
	}
}

// SyncNow asks the servers once and applies the answer.
func (d *Discipline) SyncNow(ctx context.Context) error {
	servers := d.cfg.Servers()
	if len(servers) == 0 {
		return fmt.Errorf("timesync: %w: none configured", ntp.ErrNoServer)
	}
	res, err := d.syncer.Sync(ctx, servers)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.st.LastError = err.Error()
		d.expireLocked()
		return fmt.Errorf("timesync: %w", err)
	}
	d.st.LastError = ""
	d.stepped = false
	off := res.Offset
	abs := max(off, -off)
	synced := abs <= d.cfg.MaxError
	switch {
	case d.cfg.Clock == nil:
		// Watching: nothing to apply.
	case off > d.cfg.StepThreshold:
		if err := d.cfg.Clock.Step(off); err != nil {
			d.st.LastError = err.Error()
			return fmt.Errorf("timesync: %w", err)
		}
		d.st.Steps++
		d.stepped = true
		synced = true
		d.cfg.Logf("timesync: clock stepped forward by %v (server %s)", off, res.Server)
	default:
		// Small corrections, and a clock ahead by any amount: slew.
		if err := d.cfg.Clock.Slew(off); err != nil {
			d.st.LastError = err.Error()
			return fmt.Errorf("timesync: %w", err)
		}
		if !synced {
			d.cfg.Logf("timesync: clock ahead by %v (server %s): slewing, never stepping back; unsynchronised meanwhile", -off, res.Server)
		}
	}
	wasSynced := d.st.Synced
	d.st.Offset = off
	d.st.Server = res.Server
	d.st.By = ""
	if synced {
		d.st.Synced, d.st.Source, d.st.SetAt = true, SourceNTP, d.now()
		d.lastSync = time.Now()
		d.upstream = ntp.Upstream{Stratum: res.Stratum, RefID: refID(res.Addr), RootDelay: res.RootDelay + res.Delay,
			RootDispersion: res.RootDispersion + res.Delay/2, Reference: d.now()}
		if !wasSynced {
			d.cfg.Logf("timesync: synchronised with %s (offset %v, %d of %d servers agree)", res.Server, off, res.Agreeing, res.Asked)
		}
	} else {
		d.st.Synced = false
	}
	if synced && d.cfg.RTC != nil && (d.rtcAt.IsZero() || time.Since(d.rtcAt) > rtcEvery) {
		if err := d.cfg.RTC.Set(d.now()); err != nil {
			if !errors.Is(err, ErrNoRTC) {
				d.cfg.Logf("timesync: %v", err)
			}
		} else {
			d.cfg.Logf("timesync: RTC set")
		}
		d.rtcAt = time.Now() // also after a failure: not every poll
	}
	d.persistLocked()
	return nil
}

// refID is an IPv4 server's address as a reference ID.
func refID(a net.Addr) [4]byte {
	var id [4]byte
	if u, ok := a.(*net.UDPAddr); ok {
		if v4 := u.IP.To4(); v4 != nil {
			copy(id[:], v4)
		}
	}
	return id
}

// Errors of SetByOfficer.
var (
	ErrSynced    = errors.New("timesync: the clock is synchronised; confirm to override it")
	ErrBackwards = fmt.Errorf("timesync: the box's clock never goes back by more than %v", MaxOfficerBack)
	ErrWatching  = errors.New("timesync: host mode: the host's clock is not the box's to set")
)

// SetByOfficer sets the clock to t on an officer's word. While the clock
// is synchronised it needs confirm. Forward it steps; back (at most
// MaxOfficerBack) it slews.
func (d *Discipline) SetByOfficer(t time.Time, who string, confirm bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked()
	if d.cfg.Clock == nil {
		return ErrWatching
	}
	if d.st.Synced && !confirm {
		return ErrSynced
	}
	off := t.Sub(d.now())
	switch {
	case off < -MaxOfficerBack:
		return ErrBackwards
	case off > d.cfg.StepThreshold:
		if err := d.cfg.Clock.Step(off); err != nil {
			return fmt.Errorf("timesync: %w", err)
		}
		d.st.Steps++
	default:
		if err := d.cfg.Clock.Slew(off); err != nil {
			return fmt.Errorf("timesync: %w", err)
		}
	}
	d.st.Synced, d.st.Source, d.st.By, d.st.Server = false, SourceOfficer, who, ""
	d.st.SetAt, d.st.Offset = t, off
	d.cfg.Logf("timesync: clock set by officer %s (%+v)", who, off)
	d.persistLocked()
	return nil
}

// Persist writes the last known good time now.
func (d *Discipline) Persist() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.persistLocked()
}

func (d *Discipline) persistLocked() error {
	if d.cfg.DataDir == "" || d.st.Watching {
		return nil
	}
	m := Mark{Time: d.now(), Source: d.st.Source, Synced: d.st.Synced, Server: d.st.Server, By: d.st.By}
	if err := WriteMark(filepath.Join(d.cfg.DataDir, LastGoodFile), m); err != nil {
		d.cfg.Logf("timesync: %v", err)
		return err
	}
	return nil
}

// Run syncs (every Poll once synchronised; until then after Retry,
// doubling with each failure up to MaxRetry, so that a box whose uplink
// blocks NTP does not pester public servers) and persists the time every
// PersistEvery, until ctx ends; then it persists once more.
func (d *Discipline) Run(ctx context.Context) error {
	persist := time.NewTicker(d.cfg.PersistEvery)
	defer persist.Stop()
	next := time.NewTimer(0)
	defer next.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			d.Persist()
			return ctx.Err()
		case <-persist.C:
			d.Persist()
		case <-d.kick:
			failures = 0
			next.Reset(0)
		case <-next.C:
			wait := min(d.cfg.Retry<<min(failures, 8), max(MaxRetry, d.cfg.Retry))
			if len(d.cfg.Servers()) > 0 {
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := d.SyncNow(sctx)
				cancel()
				d.mu.Lock()
				stepped := d.stepped
				d.mu.Unlock()
				switch {
				case err == nil && d.Synced() && !stepped:
					wait, failures = d.cfg.Poll, 0
				case err == nil:
					failures = 0 // stepped, or slewing in from ahead: look again soon
					wait = d.cfg.Retry
				default:
					failures++
				}
			}
			next.Reset(wait)
		}
	}
}

// Kick asks Run to sync now (the servers changed).
func (d *Discipline) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Servers returns configured, or DefaultServers when configured is nil,
// plus the uplink's default gateway (household routers often serve time)
// when gateway is true. "off" alone means none.
func Servers(configured []string, gateway bool) func() []string {
	return func() []string {
		if len(configured) == 1 && configured[0] == "off" {
			return nil
		}
		list := configured
		if list == nil {
			list = DefaultServers
		}
		list = append([]string(nil), list...)
		if gateway {
			if gw, ok := DefaultGateway(); ok {
				list = append(list, gw)
			}
		}
		return list
	}
}

// DefaultGateway reads the IPv4 default route's gateway from
// /proc/net/route.
func DefaultGateway() (string, bool) {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return "", false
	}
	return parseRoute(string(b))
}
