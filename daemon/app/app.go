// Package app is matthand's core, assembled: the segment store (and the USB
// recording disk), the camera records (daemon/cameras) and per camera an
// RTSP ingest publishing into its fan-out (daemon/stream), which feeds the
// live hub, the motion watcher, the recording gate and the recorder; the
// event index (bleve) and log; the lights. It knows nothing about HTTP:
// the admin page (webadmin, mounted by webadmin/box) calls it through Go
// methods. Close shuts down in an order that loses nothing (ingest stops,
// recorders flush and fsync, then the store and the index close).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/diag"
	"github.com/matthan/matthan/daemon/discovery"
	"github.com/matthan/matthan/daemon/disks"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/federation"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/pairing"
	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/daemon/timesync"
)

// EventMemory is how many events the diagnostics can list.
const EventMemory = 5000

// Options are what Start needs beside the configuration.
type Options struct {
	// BoardFile is the board definition with the GPIO pins and the
	// uplink (default $MATTHAN_BOARD via Run's caller; empty: the host).
	BoardFile string
	// WebDir is the admin page's data folder, where the camera records
	// are kept (DATA/web/cameras.json); default DATA/web.
	WebDir string
	// Disks, when set, watches the USB recording disks with these options
	// (Target is filled in). Default: on the box (BoardFile set), the
	// real sysfs; elsewhere none.
	Disks *disks.Options
	// SegmentDuration overrides the recorder's (tests, webtestd).
	SegmentDuration time.Duration
	// NoSubStreams: a camera's sub stream is not pulled (webtestd).
	NoSubStreams bool
}

// Core is the running daemon without its HTTP side.
type Core struct {
	Store *storage.Store
	Index *search.Index
	// Outbox is the district outbox's cursor (daemon/federation): while a
	// district is configured, the event index keeps what it has not had
	// acknowledged.
	Outbox  *federation.Cursor
	Hub     *live.Hub
	Events  *EventLog
	Records *cameras.Store // the camera records, edited through Put/Remove
	Disks   *disks.Manager // nil: no USB recording disk is watched
	Lights  *LightsParts
	// Pairing is the camera pairing (nil when the records are unreadable).
	Pairing *pairing.Manager
	// Clock keeps the box's clock true (NTP on the uplink) and says how
	// far it can be trusted; the store marks segments by it.
	Clock   *timesync.Discipline
	Started time.Time

	cfg       *config.Config
	log       *slog.Logger
	cams      *cameraSet
	recDisks  recordingDisks
	pub       *publisher
	marks     *marker
	stopBg    context.CancelFunc
	clockRun  chan struct{} // closed when the clock discipline has stopped
	closeMu   sync.Mutex
	closed    bool
	lastWErr  int64
	bg        context.Context
	discovery atomic.Pointer[discovery.Discoverer]
	leases    discovery.LeaseLookup // set before discovery starts; read after
	leaseLoop atomic.Bool           // listLeases runs
	subTried  sync.Map              // camera ID + URL asked for a sub stream
	previewMu sync.Mutex
	previews  map[string]*time.Timer // pairing previews by candidate key
	camNet    cameraNet
}

// Start opens the store and the index, starts the lights, the USB disk
// watcher and every camera (the configured ones, the page's edits winning,
// then the ones added on the page), and returns the running core.
func Start(cfg *config.Config, log *slog.Logger, opt Options) (_ *Core, err error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Core{cfg: cfg, log: log, Started: time.Now(), Events: NewEventLog(EventMemory, log)}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	if c.Outbox, err = federation.OpenCursor(filepath.Join(cfg.DataDir, federation.CursorFile)); err != nil {
		return nil, err
	}
	if c.Index, err = search.Open(filepath.Join(cfg.DataDir, "events"), search.Options{Logf: logf(log, "search"), Hold: c.Outbox.Hold}); err != nil {
		return nil, fmt.Errorf("open event index in %s: %w", cfg.DataDir, err)
	}
	cleanup = append(cleanup, func() { c.Index.Close() })
	if c.Index.Repaired != "" {
		log.Warn("event index was damaged: moved aside, rebuilding it from the event log", "old", c.Index.Repaired)
	}
	bgCtx, stopBg := context.WithCancel(context.Background())
	c.stopBg = stopBg
	cleanup = append(cleanup, stopBg)
	c.pub = &publisher{idx: c.Index, log: c.Events, ctx: bgCtx, logger: log}

	webDir := opt.WebDir
	if webDir == "" {
		webDir = filepath.Join(cfg.DataDir, "web")
	}
	if c.Records, err = cameras.Open(filepath.Join(webDir, cameras.FileName)); err != nil {
		// A damaged file must not stop recording the configured cameras.
		log.Error("camera records unreadable; running the configured cameras only", "err", err)
		c.Records = nil
	}
	c.Clock = startClock(bgCtx, cfg, log, c)
	storeOpts := storage.Options{
		RetentionDays: cfg.RetentionDays,
		Retention:     retentionOf(c.Records),
		MinFreeBytes:  cfg.MinFreeMB << 20,
		Events:        c.pub,
		Logf:          logf(log, "storage"),
		TimeState:     c.Clock.TimeState,
	}
	cardOpts := storeOpts // the same floor and retention, applied on each disk
	cardOpts.DiskLost = c.recDisks.lost
	if c.Store, err = storage.Open(bgCtx, cfg.DataDir, cardOpts); err != nil {
		return nil, fmt.Errorf("open recordings in %s: %w", cfg.DataDir, err)
	}
	cleanup = append(cleanup, func() { c.Store.Close() })
	stateFile := filepath.Join(cfg.DataDir, "recording-disk.json")
	switch {
	case opt.Disks != nil:
		o := *opt.Disks
		o.Target = RecordingDisk{Ctx: bgCtx, Card: c.Store, Options: storeOpts}
		if o.StateFile == "" {
			o.StateFile = stateFile
		}
		c.Disks = c.recDisks.start(bgCtx, o, log)
	case opt.BoardFile != "": // on the box: a USB disk records, the card keeps the rest
		c.Disks = c.recDisks.start(bgCtx, disks.Options{Target: RecordingDisk{Ctx: bgCtx, Card: c.Store, Options: storeOpts, MountPoint: true},
			StateFile: stateFile}, log)
	}

	c.Hub = live.NewHub()
	c.cams = newCameraSet(cfg, c.Store, c.Hub, c.pub, log)
	c.cams.segmentDuration = opt.SegmentDuration
	c.cams.noSub = opt.NoSubStreams
	c.marks = startMarker(bgCtx, c.Store, c.cams.buffers, log)
	c.pub.marks.Store(c.marks)
	c.Lights = startLights(bgCtx, opt.BoardFile, c.pub, log)
	c.bg = bgCtx
	c.startPairing(log)
	cleanup = append(cleanup, func() { c.cams.closeAll() })

	// Cameras: the configured ones (the page's edits win), then the ones
	// added on the page.
	for _, cc := range cfg.Cameras {
		spec := c.cams.configured[cc.Name]
		if c.Records != nil {
			if w, ok := c.Records.Get(cc.Name); ok {
				spec = spec.withRecord(w)
			} else if err := c.ensure(cc.Record()); err != nil {
				log.Error("camera not shown on the admin page", "camera", cc.Name, "err", err)
			}
		}
		if err := c.cams.start(spec); err != nil {
			return nil, err
		}
	}
	if c.Records != nil {
		for _, w := range c.Records.List() {
			if _, ok := c.cams.configured[w.ID]; ok {
				continue
			}
			if err := c.cams.ApplyCamera(context.Background(), w); err != nil {
				log.Error("camera from the admin page not started", "camera", w.ID, "err", err)
			}
		}
	}
	c.Lights.watchStatus(bgCtx, c.cams, func() bool { // write errors since the last look
		n := c.Store.Stats().WriteErrors
		problem := n > c.lastWErr
		c.lastWErr = n
		return problem || c.recDisks.alarm()
	})
	c.startCameraNet(bgCtx)
	if len(c.cams.list()) == 0 {
		log.Info("no cameras yet: add them on the admin page")
	}
	return c, nil
}

// ensure stores a configured camera's record unless one exists (the
// page's edits win).
func (c *Core) ensure(r cameras.Record) error {
	if _, ok := c.Records.Get(r.ID); ok {
		return nil
	}
	if key, ok := r.ValidateFor(c.cfg.CameraPolicy()); !ok {
		return fmt.Errorf("camera %s: invalid (%s)", r.ID, key)
	}
	return c.Records.Put(r)
}

// Publisher takes events from outside the core (the page's summarised
// failed logins) into the event index, and so to the district.
func (c *Core) Publisher() events.Publisher { return c.pub }

// CameraCount is how many cameras run now.
func (c *Core) CameraCount() int { return len(c.cams.list()) }

// ApplyCamera saves a camera record (as edited on the admin page) in the
// core's store and makes it take effect now; an error after the save
// wraps cameras.ErrNotApplied.
func (c *Core) ApplyCamera(ctx context.Context, r cameras.Record) error {
	if c.Records == nil {
		return errors.New("camera records unreadable at start: not saved")
	}
	if err := c.Records.Put(r); err != nil {
		return err
	}
	if err := c.cams.ApplyCamera(ctx, r); err != nil {
		return fmt.Errorf("camera %s: %w: %w", r.ID, cameras.ErrNotApplied, err)
	}
	c.findSub(r)
	return nil
}

// RemoveCamera deletes a camera's record (auth.ErrNotFound if there is
// none) and stops the camera; its recordings stay. An error after the
// deletion wraps cameras.ErrNotApplied.
func (c *Core) RemoveCamera(ctx context.Context, id string) error {
	if c.Records == nil {
		return errors.New("camera records unreadable at start: not removed")
	}
	if err := c.Records.Remove(id); err != nil {
		return err
	}
	if err := c.cams.RemoveCamera(ctx, id); err != nil {
		return fmt.Errorf("camera %s: %w: %w", id, cameras.ErrNotApplied, err)
	}
	return nil
}

// CameraStates reports the running cameras.
func (c *Core) CameraStates() []cameras.State { return c.cams.CameraStates() }

// Diag is the core's diagnostics (cameras with ingest counters, segments,
// recent events).
func (c *Core) Diag() diag.Source { return coreDiag{c} }

// Close stops taking video, flushes every recorder, then closes the store
// and the index. It is safe to call more than once.
func (c *Core) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	errs := []error{c.cams.closeAll()}
	c.stopBg()
	c.Lights.wg.Wait()
	c.pub.wg.Wait()
	if c.marks != nil {
		c.marks.wg.Wait()
	}
	errs = append(errs, c.Store.Close(), c.Index.Flush(), c.Index.Close())
	<-c.clockRun // the last known good time is written
	return errors.Join(errs...)
}

// publisher sends every event to the search index and the in-memory log;
// a retention deletion also ages out the camera's events older than what
// is left.
type publisher struct {
	idx    *search.Index
	log    *EventLog
	ctx    context.Context
	logger *slog.Logger
	mu     sync.Mutex // one age-out at a time
	wg     sync.WaitGroup
	marks  atomic.Pointer[marker] // marks the segments of alarm events
}

func (p *publisher) Publish(e events.Event) {
	p.log.Publish(e)
	p.marks.Load().offer(e)
	if e.Type != events.RetentionPurge || e.Camera == "" || e.End.IsZero() {
		p.idx.Publish(e)
		return
	}
	// The events of the deleted recordings go with them, then the
	// retention event itself goes in (after, or it would be deleted too).
	// Not holding up the store's retention loop: the index works on its own.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.idx.Publish(e)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err := p.idx.Flush(); err != nil {
			p.logger.Error("event index flush", "err", err)
		}
		n, err := p.idx.DeleteBefore(p.ctx, e.End, e.Camera)
		if err != nil {
			p.logger.Error("events not aged out with their recordings", "camera", e.Camera, "err", err)
			return
		}
		p.logger.Info("events aged out with their recordings", "camera", e.Camera, "before", e.End, "deleted", n)
	}()
}

func logf(log *slog.Logger, component string) func(string, ...any) {
	l := log.With("component", component)
	return func(format string, args ...any) { l.Info(fmt.Sprintf(format, args...)) }
}

// coreDiag is the core as diag.Source.
type coreDiag struct{ c *Core }

func (d coreDiag) Started() time.Time              { return d.c.Started }
func (d coreDiag) Recent(limit int) []events.Event { return d.c.Events.Recent(limit) }

func (d coreDiag) Cameras() []diag.Camera {
	list := d.c.cams.list()
	out := make([]diag.Camera, 0, len(list))
	for _, rc := range list {
		st := rc.cam.Status()
		out = append(out, diag.Camera{
			Name: st.Name, URL: st.URL, Codec: st.Codec, State: string(st.State), Since: st.Since.UTC(),
			LastError: st.LastError, Width: st.Width, Height: st.Height,
			Household: rc.spec.Household, Recording: rc.spec.Recording,
			Stats: diag.CameraStats{
				Packets: st.Packets, Pictures: st.AccessUnits, KeyFrames: st.KeyFrames, VideoBytes: st.VideoBytes,
				Dropped: st.Dropped, SinkErrors: st.SinkErrors, Reconnects: st.Reconnects, LastPicture: st.LastPictures.UTC(),
				Readers: rc.readerStats(),
			},
		})
	}
	return out
}

func (d coreDiag) Segments(camera string, from, to time.Time) []diag.Segment {
	segs := d.c.Store.Segments(camera, from, to)
	out := make([]diag.Segment, len(segs))
	for i, s := range segs {
		out[i] = diag.Segment{Camera: s.Camera, Start: s.Start, End: s.End, Bytes: s.Bytes, File: s.File, Recording: s.Recording,
			ClockUnsynced: s.ClockUnsynced, ClockStepped: s.ClockStepped}
	}
	return out
}
