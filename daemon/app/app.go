// Package app wires matthand together: the segment store, one recorder and
// one RTSP ingest per camera, the event log and the HTTP API, and shuts
// them down in an order that loses nothing (ingest stops, recorders flush
// and fsync, then the store closes).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/matthan/matthan/daemon/api"
	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/ingest"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
)

// EventMemory is how many events the API can list.
const EventMemory = 5000

// ReadyMessage is logged (with the HTTP address) once the API listens.
const ReadyMessage = "matthand ready"

// Run runs the daemon until ctx is cancelled, then shuts down cleanly.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	started := time.Now()
	evlog := NewEventLog(EventMemory, log)

	storeCtx, stopStore := context.WithCancel(context.Background())
	defer stopStore()
	store, err := storage.Open(storeCtx, cfg.DataDir, storage.Options{
		RetentionDays: cfg.RetentionDays,
		MinFreeBytes:  cfg.MinFreeMB << 20,
		Events:        evlog,
		Logf:          logf(log, "storage"),
	})
	if err != nil {
		return fmt.Errorf("open recordings in %s: %w", cfg.DataDir, err)
	}
	defer store.Close()

	var (
		cams      []*ingest.Camera
		recorders []*record.Recorder
		byName    = map[string]config.Camera{}
	)
	for _, cc := range cfg.Cameras {
		byName[cc.Name] = cc
		var sink media.Sink = discardSink{}
		if cc.Recording != config.RecordOff {
			// Motion-only recording is not there yet: record everything.
			rec := record.New(store, cc.Name, record.Options{
				MaxLoss: cfg.MaxLoss(),
				Events:  evlog,
				Logf:    logf(log.With("camera", cc.Name), "record"),
			})
			recorders = append(recorders, rec)
			sink = rec
		}
		cam, err := ingest.New(cc.Name, cc.URL, sink, ingest.Options{
			OfflineAfter: cfg.OfflineAfter(),
			Household:    cc.Household,
			Events:       evlog,
			Log:          log,
		})
		if err != nil {
			return err
		}
		cams = append(cams, cam)
	}

	srv := &api.Server{
		Cameras:    cameraList{cams: cams, cfg: byName},
		Recordings: recordings{store},
		Exporter:   exporter{store},
		Events:     evlog,
		Log:        log,
		Started:    started,
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()

	camCtx, stopCams := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, cam := range cams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cam.Run(camCtx)
		}()
	}
	log.Info(ReadyMessage, "http", "http://"+ln.Addr().String(), "cameras", len(cams), "data", cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		runErr = fmt.Errorf("HTTP server: %w", err)
	}

	// Shutdown: stop taking video, flush every recorder, then the store.
	t0 := time.Now()
	stopCams()
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutCtx)
	wg.Wait()
	var errs []error
	for _, r := range recorders {
		errs = append(errs, r.Close())
	}
	stopStore()
	errs = append(errs, store.Close())
	log.Info("matthand stopped", "took", time.Since(t0).Round(time.Millisecond))
	return errors.Join(append(errs, runErr)...)
}

func logf(log *slog.Logger, component string) func(string, ...any) {
	l := log.With("component", component)
	return func(format string, args ...any) { l.Info(fmt.Sprintf(format, args...)) }
}

// discardSink takes video of cameras with recording off (they are still
// watched for their state).
type discardSink struct{}

func (discardSink) StreamStarted(media.Stream) error        { return nil }
func (discardSink) WriteAccessUnit(*media.AccessUnit) error { return nil }
func (discardSink) StreamEnded(error)                       {}

// cameraList adapts the ingest cameras to api.Cameras.
type cameraList struct {
	cams []*ingest.Camera
	cfg  map[string]config.Camera
}

func (l cameraList) Cameras() []api.Camera {
	out := make([]api.Camera, 0, len(l.cams))
	for _, c := range l.cams {
		st := c.Status()
		cc := l.cfg[st.Name]
		out = append(out, api.Camera{
			Name: st.Name, URL: st.URL, Codec: st.Codec, State: string(st.State), Since: st.Since.UTC(),
			LastError: st.LastError, Width: st.Width, Height: st.Height,
			Household: cc.Household, Recording: cc.Recording,
			Stats: api.CameraStats{
				Packets: st.Packets, Pictures: st.AccessUnits, KeyFrames: st.KeyFrames, VideoBytes: st.VideoBytes,
				Dropped: st.Dropped, SinkErrors: st.SinkErrors, Reconnects: st.Reconnects, LastPicture: st.LastPictures.UTC(),
			},
		})
	}
	return out
}

// recordings adapts the store to api.Recordings.
type recordings struct{ store *storage.Store }

func toAPI(s storage.Segment) api.Segment {
	return api.Segment{Camera: s.Camera, Start: s.Start, End: s.End, Bytes: s.Bytes, File: s.File, Recording: s.Recording}
}

func (r recordings) Segments(camera string, from, to time.Time) []api.Segment {
	segs := r.store.Segments(camera, from, to)
	out := make([]api.Segment, len(segs))
	for i, s := range segs {
		out[i] = toAPI(s)
	}
	return out
}

// OpenSegment opens only a file the index lists: the name gives the start
// time, the index must hold a segment with exactly that File.
func (r recordings) OpenSegment(file string) (*os.File, api.Segment, error) {
	camera, rest, ok := strings.Cut(file, "/")
	if !ok {
		return nil, api.Segment{}, os.ErrNotExist
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	start, err := time.Parse("20060102T150405.000Z.mp4", name)
	if err != nil {
		return nil, api.Segment{}, os.ErrNotExist
	}
	for _, s := range r.store.Segments(camera, start, start.Add(time.Millisecond)) {
		if s.File == file {
			f, err := os.Open(r.store.Path(s))
			return f, toAPI(s), err
		}
	}
	return nil, api.Segment{}, os.ErrNotExist
}

// exporter adapts storage.Export to api.Exporter.
type exporter struct{ store *storage.Store }

func (e exporter) Export(ctx context.Context, w io.Writer, camera string, from, to time.Time) error {
	_, err := storage.Export(ctx, w, e.store, camera, from, to)
	return err
}
