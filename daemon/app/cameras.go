package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/h264/mb"
	"github.com/matthan/matthan/daemon/ingest"
	"github.com/matthan/matthan/daemon/live"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/daemon/stream"
)

// The readers' queues: the recording path holds seconds of video (a disk
// that pauses does not cut the recording), the live hub (which never
// waits: its viewers have their own queues) little. The motion analysis
// of a sub stream (not recorded) holds 2.5 s of it: on a CPU too busy for
// it, it resumes at a later key frame instead of holding 10 s of every
// camera in memory (64 cameras on a busy box: about 20 MB).
var (
	recordQueue    = stream.ReaderOptions{Queue: 256, Bytes: 8 << 20}
	liveQueue      = stream.ReaderOptions{Queue: 32, Bytes: 2 << 20}
	subMotionQueue = stream.ReaderOptions{Queue: 64, Bytes: 1 << 20}
)

// cameraSpec is everything that decides how one camera runs; two equal
// specs need no restart.
type cameraSpec struct {
	Name, URL, SubURL, Household string
	Recording                    string // config.RecordContinuous, RecordMotion, RecordOff; cameras.Mixed records continuously
	Pre, Post                    time.Duration
	Zones                        []motion.Zone
	// NoMotion: record without analysing motion (config no_motion); the
	// page's "motion" recording mode turns analysis back on.
	NoMotion bool
	// Audio records the camera's sound (its switch, off by default).
	Audio bool
}

// specFromConfig is a camera as the config file or the command line gives it.
func specFromConfig(c config.Camera) cameraSpec {
	return cameraSpec{Name: c.Name, URL: c.URL, SubURL: c.SubURL, Household: c.Household, Recording: c.Recording, NoMotion: c.NoMotion, Audio: c.RecordAudio,
		Pre: time.Duration(c.PreSeconds) * time.Second, Post: time.Duration(c.PostSeconds) * time.Second}
}

// withRecord lays the camera record (as edited on the admin page) over s
// (the page's edits win; a camera the configuration turns off stays off).
func (s cameraSpec) withRecord(w cameras.Record) cameraSpec {
	s.Name, s.URL, s.Household = w.ID, w.URL, w.Household
	s.Audio = w.RecordAudio
	if w.SubURL != "" {
		s.SubURL = w.SubURL
	}
	if s.Recording != config.RecordOff {
		s.Recording = w.Mode
		if s.Recording == "" {
			s.Recording = config.RecordMotion
		}
	}
	s.Pre = time.Duration(w.PreSec) * time.Second
	s.Post = time.Duration(w.PostSec) * time.Second
	s.Zones = nil
	for _, z := range w.Zones {
		s.Zones = append(s.Zones, motion.Zone{Name: z.Kind, X0: z.X0, Y0: z.Y0, X1: z.X1, Y1: z.Y1, Sensitivity: 1, Mask: z.Kind == "mask"})
	}
	return s
}

// runningCamera is one camera's pipeline:
//
//	ingest → stream.Publisher ┬→ queue → live hub
//	                          └→ queue → motion watcher (mb.Analyzer, detector) → gate → recorder
//
// and, when the camera has a sub stream, the analysis moves there (a 360p
// sub costs a fraction of a 1080p main):
//
//	main ingest → fan-out ┬→ live hub
//	                      └→ gate → recorder      (the detector's grid: the main stream's)
//	sub ingest  → fan-out ┬→ live hub (…/sub)
//	                      └→ motion watcher (zones scaled to the sub, regions back)
type runningCamera struct {
	spec   cameraSpec
	cam    *ingest.Camera
	rec    *record.Recorder // nil when recording is off
	det    *motion.Detector
	gate   *motion.Gate // nil when recording is off
	pub    *stream.Publisher
	subPub *stream.Publisher // nil without a sub stream
	cancel context.CancelFunc
	done   chan struct{}
}

// readerStats are the camera's fan-out readers' counters.
func (rc *runningCamera) readerStats() map[string]stream.ReaderStats {
	out := map[string]stream.ReaderStats{}
	for _, r := range rc.pub.Readers() {
		out[r.Name()] = r.Stats()
	}
	return out
}

// cameraSet starts and stops cameras.
type cameraSet struct {
	store   *storage.Store
	hub     *live.Hub
	pub     events.Publisher
	log     *slog.Logger
	maxLoss time.Duration
	offline time.Duration
	policy  camnet.Policy // where cameras may be: every dial goes through it
	// segmentDuration overrides the recorder's; noSub skips sub streams.
	segmentDuration time.Duration
	noSub           bool
	// configured are the cameras of the config file / command line.
	configured map[string]cameraSpec

	mu      sync.Mutex
	running map[string]*runningCamera
	closed  bool
}

func newCameraSet(cfg *config.Config, store *storage.Store, hub *live.Hub, pub events.Publisher, log *slog.Logger) *cameraSet {
	cs := &cameraSet{store: store, hub: hub, pub: pub, log: log, maxLoss: cfg.MaxLoss(), offline: cfg.OfflineAfter(),
		policy: cfg.CameraPolicy(), configured: map[string]cameraSpec{}, running: map[string]*runningCamera{}}
	for _, c := range cfg.Cameras {
		cs.configured[c.Name] = specFromConfig(c)
	}
	return cs
}

// start runs a camera (replacing a running one with another spec).
func (cs *cameraSet) start(spec cameraSpec) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return errors.New("daemon is stopping")
	}
	if old, ok := cs.running[spec.Name]; ok {
		if reflect.DeepEqual(old.spec, spec) {
			return nil
		}
		cs.stopLocked(old)
		delete(cs.running, spec.Name)
	}
	rc, err := cs.build(spec)
	if err != nil {
		return err
	}
	cs.running[spec.Name] = rc
	cs.log.Info("camera started", "camera", spec.Name, "recording", spec.Recording, "sub", spec.SubURL != "")
	return nil
}

func (cs *cameraSet) build(spec cameraSpec) (*runningCamera, error) {
	det, err := motion.New(spec.Name, spec.Household, motion.Config{Zones: spec.Zones}, cs.pub)
	if err != nil {
		return nil, fmt.Errorf("camera %s: motion: %w", spec.Name, err)
	}
	rc := &runningCamera{spec: spec, det: det, done: make(chan struct{})}
	// The analysis runs beside the recording, never in its way: a box
	// that cannot keep up analyses fewer pictures, and records them all.
	watcher := &motion.Watcher{Det: det, Analyzer: mb.NewAnalyzer(), Peek: mb.NewAnalyzer(), Queue: 4}
	if spec.Recording != config.RecordOff {
		rc.rec = record.New(cs.store, spec.Name, record.Options{
			MaxLoss:         cs.maxLoss,
			SegmentDuration: cs.segmentDuration,
			Audio:           spec.Audio,
			Events:          cs.pub,
			Logf:            logf(cs.log.With("camera", spec.Name), "record"),
		})
		mode := motion.Continuous
		if spec.Recording == config.RecordMotion {
			if mode, err = motion.ParseRecordMode("motion"); err != nil {
				return nil, err
			}
		}
		rc.gate = motion.NewGate(rc.rec, det, motion.GateConfig{Mode: mode, Pre: spec.Pre, Post: spec.Post})
		watcher.Next = rc.gate
	}
	// The camera publishes into its fan-out; the live view and the
	// recording path each read it through a queue of their own, so
	// neither waits for the other (the recorder may wait on the disk).
	pub := stream.New()
	rc.pub = pub
	feed := cs.hub.Feed(spec.Name)
	// A camera recorded all the time gives a new live viewer its first
	// key frame from the segment being written (the page cache holds
	// it): the feed keeps no GOP in the heap. Others keep it.
	var gops live.GOPSource
	if rc.rec != nil && spec.Recording == config.RecordContinuous {
		gops = rc.rec
	}
	feed.SetSource(gops)
	feed.SetAudio(spec.Audio) // live sound (WebRTC) only where the camera's sound switch is on
	pub.Add("live", feed, liveQueue)
	analyse := !(spec.NoMotion && spec.Recording != config.RecordMotion)
	onSub := analyse && spec.SubURL != "" && !cs.noSub
	switch {
	case onSub:
		// Analyse the sub stream (a 360p sub costs a fraction of a 1080p
		// main); the main stream tells the detector its grid (zones are
		// drawn on it, event regions reported on it) and goes to the gate.
		watcher.Next = nil
		pub.Add("grid", mainGrid{det}, liveQueue)
		if rc.gate != nil {
			pub.Add("record", rc.gate, recordQueue)
		}
	case analyse:
		pub.Add("record", watcher, recordQueue)
	case rc.gate != nil:
		// Record only: the watcher's analysis is skipped; the gate runs
		// continuous and never asks the detector.
		pub.Add("record", rc.gate, recordQueue)
	}
	cam, err := ingest.New(spec.Name, spec.URL, pub, ingest.Options{
		OfflineAfter: cs.offline, Household: spec.Household, Events: cs.pub, Log: cs.log, Dial: cs.policy.DialWith,
	})
	if err != nil {
		pub.Close()
		return nil, err
	}
	rc.cam = cam
	var sub *ingest.Camera
	if spec.SubURL != "" && !cs.noSub {
		// The sub stream feeds the live wall and, when the camera is
		// analysed, the motion analysis: no events of its own (offline is
		// the main stream's), no recording.
		rc.subPub = stream.New()
		rc.subPub.Add("live", cs.hub.Feed(spec.Name+"/sub"), liveQueue)
		if onSub {
			rc.subPub.Add("motion", watcher, subMotionQueue)
		}
		if sub, err = ingest.New(spec.Name+"/sub", spec.SubURL, rc.subPub, ingest.Options{Log: cs.log, Dial: cs.policy.DialWith}); err != nil {
			pub.Close()
			rc.subPub.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc.cancel = cancel
	var wg sync.WaitGroup
	if analyse {
		// Waited for before the detector closes (stopLocked).
		wg.Add(1)
		go func() {
			defer wg.Done()
			watcher.Run(ctx)
		}()
	}
	for _, c := range []*ingest.Camera{cam, sub} {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Run(ctx)
		}()
	}
	go func() {
		wg.Wait()
		close(rc.done)
	}()
	return rc, nil
}

// stopLocked stops taking video, then flushes and closes the recorder.
func (cs *cameraSet) stopLocked(rc *runningCamera) error {
	rc.cancel()
	<-rc.done
	// Ingest has stopped: what the readers still have queued is written.
	rc.pub.Close()
	if rc.subPub != nil {
		rc.subPub.Close()
	}
	rc.det.Close(time.Now())
	if rc.rec == nil {
		return nil
	}
	if err := rc.rec.Close(); err != nil {
		return fmt.Errorf("camera %s: %w", rc.spec.Name, err)
	}
	return nil
}

// ApplyCamera makes a camera record (saved on the page) take effect now.
func (cs *cameraSet) ApplyCamera(_ context.Context, w cameras.Record) error {
	base, ok := cs.configured[w.ID]
	if !ok {
		base = cameraSpec{Recording: config.RecordContinuous}
	}
	return cs.start(base.withRecord(w))
}

// RemoveCamera stops a camera removed on the page.
func (cs *cameraSet) RemoveCamera(_ context.Context, id string) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rc, ok := cs.running[id]
	if !ok {
		return nil
	}
	delete(cs.running, id)
	cs.log.Info("camera removed", "camera", id)
	return cs.stopLocked(rc)
}

// closeAll stops every camera in parallel (each recorder flushes).
func (cs *cameraSet) closeAll() error {
	cs.mu.Lock()
	cs.closed = true
	list := make([]*runningCamera, 0, len(cs.running))
	for _, rc := range cs.running {
		list = append(list, rc)
		rc.cancel()
	}
	cs.running = map[string]*runningCamera{}
	cs.mu.Unlock()
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, rc := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cs.stopLocked(rc)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (cs *cameraSet) list() []*runningCamera {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]*runningCamera, 0, len(cs.running))
	for _, rc := range cs.running {
		out = append(out, rc)
	}
	slices.SortFunc(out, func(a, b *runningCamera) int {
		if a.spec.Name < b.spec.Name {
			return -1
		}
		if a.spec.Name > b.spec.Name {
			return 1
		}
		return 0
	})
	return out
}

// CameraStates reports the running cameras.
func (cs *cameraSet) CameraStates() []cameras.State {
	list := cs.list()
	out := make([]cameras.State, 0, len(list))
	for _, rc := range list {
		st := rc.cam.Status()
		s := cameras.State{ID: rc.spec.Name, Online: st.State == ingest.Recording, Codec: st.Codec,
			Width: st.Width, Height: st.Height, MotionNow: rc.det.Active()}
		if st.State == ingest.Offline {
			s.OfflineSince = st.Since
		}
		s.Recording = s.Online && rc.gate != nil && rc.gate.Recording()
		out = append(out, s)
	}
	return out
}

// lightsSwitched tells every camera's motion detector that the box
// switched its IR LEDs at at.
func (cs *cameraSet) lightsSwitched(at time.Time) {
	for _, rc := range cs.list() {
		rc.det.LightsSwitched(at)
	}
}

// mainGrid tells the detector of a camera analysed on its sub stream the
// main stream's macroblock grid when the main stream starts.
type mainGrid struct{ det *motion.Detector }

func (g mainGrid) StreamStarted(s media.Stream) error {
	g.det.SetGrid((s.Width+15)/16, (s.Height+15)/16)
	return nil
}
func (mainGrid) WriteAccessUnit(*media.AccessUnit) error { return nil }
func (mainGrid) StreamEnded(error)                       {}
