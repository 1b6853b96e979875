// Package adapt connects the daemon's parts (storage, search index, IR
// lights and status LED, system stats) to the small interfaces webadmin is
// built from; webadmin/box mounts the page on the core with them.
package adapt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/lights"
	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/webadmin"
)

// Segments serves a storage.Store's segments under their base names.
type Segments struct{ Store *storage.Store }

var _ webadmin.SegmentStore = Segments{}

// Segments implements webadmin.SegmentStore.
func (s Segments) Segments(_ context.Context, camera string, from, to time.Time) ([]webadmin.Segment, error) {
	segs := s.Store.Segments(camera, from, to)
	out := make([]webadmin.Segment, 0, len(segs))
	for _, g := range segs {
		out = append(out, webadmin.Segment{File: path.Base(g.File), Start: g.Start, End: g.End, Bytes: g.Bytes, ClockUnsynced: g.ClockUnsynced || g.ClockStepped})
	}
	return out, nil
}

// segmentTime parses a segment's base name, 20261126T232548.123Z.mp4.
func segmentTime(name string) (time.Time, bool) {
	base, ok := strings.CutSuffix(name, ".mp4")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405.000Z", base)
	return t, err == nil
}

// OpenSegment implements webadmin.SegmentStore: only a name the index
// lists for that camera opens.
func (s Segments) OpenSegment(camera, file string) (io.ReadSeekCloser, time.Time, error) {
	t, ok := segmentTime(file)
	if !ok {
		return nil, time.Time{}, fmt.Errorf("segment %q: %w", file, os.ErrNotExist)
	}
	for _, g := range s.Store.Segments(camera, t.Add(-time.Millisecond), t.Add(time.Millisecond)) {
		if path.Base(g.File) == file && g.Camera == camera {
			f, err := os.Open(s.Store.Path(g))
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("segment %s: %w", file, err)
			}
			return f, g.End, nil
		}
	}
	return nil, time.Time{}, fmt.Errorf("segment %q of %s: %w", file, camera, os.ErrNotExist)
}

// Exporter stitches a range with storage.Export.
type Exporter struct{ Store *storage.Store }

// Export implements webadmin.Exporter.
func (e Exporter) Export(ctx context.Context, camera string, from, to time.Time, w io.Writer) (evidence.Coverage, error) {
	info, err := storage.Export(ctx, w, e.Store, camera, from, to)
	if errors.Is(err, storage.ErrNoRecordings) {
		return evidence.Coverage{}, nil // no picture: the page says "no recording in this range"
	}
	if err != nil {
		return evidence.Coverage{}, err
	}
	return evidence.Coverage{Intervals: info.Covered, ClockUnsynced: info.ClockUnsynced}, nil
}

// Search queries the bleve event index, limited to the caller's cameras.
type Search struct{ Index *search.Index }

// Search implements webadmin.EventSearch.
func (s Search) Search(ctx context.Context, q webadmin.SearchQuery) (webadmin.SearchResult, error) {
	size := q.Size
	if size <= 0 {
		size = 50
	}
	size = min(size, search.MaxPageSize)
	sq := search.Query{Text: q.Text, From: q.From, To: q.To, Allowed: append([]string{}, q.Cameras...), Size: size, Page: q.Offset / size}
	for _, t := range q.Types {
		sq.Types = append(sq.Types, events.Type(t))
	}
	res, err := s.Index.Search(ctx, sq)
	if err != nil {
		return webadmin.SearchResult{}, err
	}
	out := webadmin.SearchResult{Total: int(res.Total), Hits: res.Events, Facets: map[string]map[string]int{"camera": {}, "type": {}}}
	for k, v := range res.ByCamera {
		out.Facets["camera"][k] = int(v)
	}
	for k, v := range res.ByType {
		out.Facets["type"][k] = int(v)
	}
	return out, nil
}

// Lights is the IR controller and the status LED (which may be nil) as
// the page sees them: webadmin.Lights and webadmin.LightsControl.
type Lights struct {
	IR     *lights.IR
	Status *lights.StatusLED
}

// LightsPanel implements webadmin.LightsControl.
func (l Lights) LightsPanel() lights.State { return lights.StateOf(l.IR, l.Status) }

// SetIRMode implements webadmin.LightsControl.
func (l Lights) SetIRMode(m lights.Mode) error { return l.IR.SetMode(m) }

// LightsState implements webadmin.Lights.
func (l Lights) LightsState() webadmin.LightsState {
	st := l.IR.Status()
	return webadmin.LightsState{IROn: st.On, Mode: string(st.Mode), Reason: st.Source + " " + st.Error}
}

// Stats measures the box: disk of the data directory, the recording rate
// since start (bytes the store wrote per day), uptime and temperature.
type Stats struct {
	Store   *storage.Store
	DataDir string
	Version string // shown when there is no ReleaseFile (a development build)
	// ReleaseFile is the image's release.json (default ReleaseFile): its
	// version and build date are what the system page shows.
	ReleaseFile string
	started     time.Time
	once        sync.Once
}

// SystemStats implements webadmin.StatsSource.
func (s *Stats) SystemStats() webadmin.SystemStats {
	s.once.Do(func() { s.started = time.Now() })
	var out webadmin.SystemStats
	rf := s.ReleaseFile
	if rf == "" {
		rf = ReleaseFile
	}
	out.Version = releaseVersion(rf, s.Version)
	var fs syscall.Statfs_t
	dir := s.DataDir
	if s.Store != nil && s.Store.Disk() != nil {
		dir = s.Store.Disk().Dir() // the USB recording disk holds the video
	}
	if err := syscall.Statfs(dir, &fs); err == nil {
		out.DiskTotal = int64(fs.Blocks) * int64(fs.Bsize)
		out.DiskUsed = out.DiskTotal - int64(fs.Bfree)*int64(fs.Bsize)
	}
	if s.Store != nil {
		st := s.Store
		if d := st.Disk(); d != nil {
			st = d
		}
		out.DiskFloor = st.Floor(out.DiskTotal)
		if seg, ok := s.Store.Oldest(); ok {
			out.Oldest = seg.Start
		}
		if el := time.Since(s.started); el > 10*time.Second {
			out.BytesPerDay = float64(s.Store.Stats().VideoBytes) / el.Seconds() * 86400
		}
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			out.Uptime, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if b, err := os.ReadFile("/sys/class/thermal/thermal_zone0/temp"); err == nil {
		if milli, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			c := float64(milli) / 1000
			out.TempC = &c
		}
	}
	return out
}
