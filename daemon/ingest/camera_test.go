package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/hwtest/camsim"
	"github.com/matthan/matthan/hwtest/testenv"
)

// checkSink is a media.Sink that checks the Sink contract and that every
// NAL unit it receives is one the simulator's clips contain (so no garbage
// ever reaches the recorder).
type checkSink struct {
	// valid maps each NAL unit of the clips to its picture's place:
	// clip*1e6 + picture index. Pictures that are not key frames must
	// follow their predecessor, or they refer to a picture that is missing.
	valid   map[string]int
	lastPic int

	mu        sync.Mutex
	inStream  bool
	wantKey   bool
	stream    media.Stream
	starts    int
	ends      int
	aus       int
	keys      int
	lastDTS   time.Duration
	maxStep   time.Duration
	lastAt    time.Time
	problems  []string
	afterMark int // access units since mark()
}

func (s *checkSink) problem(format string, args ...any) {
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *checkSink) StreamStarted(st media.Stream) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inStream {
		s.problem("StreamStarted inside a stream")
	}
	s.inStream, s.wantKey, s.stream, s.lastDTS = true, true, st, 0
	s.starts++
	return nil
}

func (s *checkSink) WriteAccessUnit(au *media.AccessUnit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inStream {
		s.problem("access unit outside a stream")
	}
	if s.wantKey && !au.Key {
		s.problem("stream does not start with a key frame")
	}
	s.wantKey = false
	if au.DTS < s.lastDTS {
		s.problem("DTS went back: %v -> %v", s.lastDTS, au.DTS)
	}
	if s.aus > 0 && s.starts > 0 {
		s.maxStep = max(s.maxStep, au.DTS-s.lastDTS)
	}
	s.lastDTS = au.DTS
	if au.Key {
		s.keys++
		want := 2
		if s.stream.Codec == media.H265 {
			want = 3
		}
		if len(au.NALUs) <= want || !bytes.Equal(au.NALUs[want-2], s.stream.SPS) || !bytes.Equal(au.NALUs[want-1], s.stream.PPS) {
			s.problem("key frame without SPS/PPS in front")
		}
	}
	pic := -1
	for _, n := range au.NALUs {
		if s.valid == nil {
			break
		}
		p, ok := s.valid[string(n)]
		if !ok {
			s.problem("NAL unit not from the clip (%d bytes, header %x)", len(n), n[:min(2, len(n))])
		}
		if p >= 0 {
			pic = p
		}
	}
	if s.valid != nil && pic >= 0 {
		if !au.Key && pic != s.lastPic+1 {
			s.problem("picture %d follows %d without a key frame: it refers to a missing picture", pic, s.lastPic)
		}
		s.lastPic = pic
	}
	s.aus++
	s.afterMark++
	s.lastAt = time.Now()
	return nil
}

func (s *checkSink) StreamEnded(error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inStream {
		s.problem("StreamEnded outside a stream")
	}
	s.inStream = false
	s.ends++
}

func (s *checkSink) mark() {
	s.mu.Lock()
	s.afterMark = 0
	s.mu.Unlock()
}

func (s *checkSink) snapshot() (aus, afterMark, starts int, problems []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aus, s.afterMark, s.starts, append([]string(nil), s.problems...)
}

// clipNALUs splits every clip into NAL units.
// clipNALUs splits every clip into NAL units and numbers the pictures
// (one slice per picture in these clips); parameter sets and SEI map to -1.
func clipNALUs(t *testing.T, dir string) map[string]int {
	valid := map[string]int{}
	for c, name := range []string{camsim.ClipMoving720, camsim.ClipStatic720, camsim.ClipMovingHEVC, camsim.ClipMoving360, camsim.ClipStatic360} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		pic := 0
		for _, n := range h264.NALUnits(b) {
			vcl := n[0]&0x1f == 1 || n[0]&0x1f == 5
			if name == camsim.ClipMovingHEVC {
				vcl = (n[0]>>1)&0x3f <= 21
			}
			if !vcl {
				if _, ok := valid[string(n)]; !ok {
					valid[string(n)] = -1
				}
				continue
			}
			valid[string(n)] = c*1e6 + pic
			pic++
		}
	}
	return valid
}

type eventLog struct {
	mu  sync.Mutex
	evs []events.Event
}

func (l *eventLog) Publish(e events.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) types() []events.Type {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []events.Type
	for _, e := range l.evs {
		out = append(out, e.Type)
	}
	return out
}

// TestCameraAgainstSimulator pulls the simulator's cameras and applies
// its faults, one camera per scenario, all in parallel.
func TestCameraAgainstSimulator(t *testing.T) {
	clips := filepath.Join(testenv.OutDir(), "clips")
	testenv.NeedFile(t, filepath.Join(clips, camsim.ClipMovingHEVC), "make clips")
	sim, err := camsim.Start(camsim.Config{Listen: "127.0.0.1:0", Cameras: 6, ClipsDir: clips})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	valid := clipNALUs(t, clips)

	start := func(t *testing.T, name string, opts Options) (*checkSink, *eventLog, *Camera) {
		sink := &checkSink{valid: valid}
		log := &eventLog{}
		opts.Events = log
		cam, err := New(name, "rtsp://user:secret@"+sim.Addr()+"/"+name, sink, opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { cam.Run(ctx); close(done) }()
		t.Cleanup(func() {
			cancel()
			<-done
			_, _, _, problems := sink.snapshot()
			for _, p := range problems {
				t.Error(p)
			}
		})
		return sink, log, cam
	}
	recording := func(t *testing.T, sink *checkSink, within time.Duration) {
		t.Helper()
		sink.mark()
		testenv.WaitFor(t, "25 pictures", within, func() bool { _, n, _, _ := sink.snapshot(); return n >= 25 })
	}

	t.Run("h264", func(t *testing.T) {
		t.Parallel()
		sink, _, cam := start(t, "cam1", Options{})
		recording(t, sink, 6*time.Second)
		st := cam.Status()
		if st.State != Recording || st.Codec != "H264" || st.Width != 1280 || st.Height != 720 {
			t.Errorf("status %+v", st)
		}
		if st.URL != "rtsp://"+sim.Addr()+"/cam1" {
			t.Errorf("status URL %q keeps credentials or is wrong", st.URL)
		}
		sink.mu.Lock()
		if sink.maxStep > 200*time.Millisecond {
			t.Errorf("largest DTS step %v", sink.maxStep)
		}
		sink.mu.Unlock()
	})
	t.Run("h265", func(t *testing.T) {
		t.Parallel()
		sink, _, cam := start(t, "h265", Options{})
		recording(t, sink, 6*time.Second)
		if st := cam.Status(); st.Codec != "H265" || st.Width != 1280 {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("sdp-only parameter sets", func(t *testing.T) {
		t.Parallel()
		sim.Camera("cam2").SetSDPOnly(true)
		sink, _, _ := start(t, "cam2", Options{})
		recording(t, sink, 6*time.Second) // the sink checks SPS/PPS before each key frame
	})
	t.Run("garbage", func(t *testing.T) {
		t.Parallel()
		sink, _, cam := start(t, "cam3", Options{})
		recording(t, sink, 6*time.Second)
		sim.Camera("cam3").Garbage(2 * time.Second)
		time.Sleep(2 * time.Second)
		recording(t, sink, 5*time.Second) // the sink checks no garbage got through
		if cam.Status().Dropped == 0 {
			t.Error("garbage was not counted as dropped")
		}
	})
	t.Run("drop and stall reconnect", func(t *testing.T) {
		t.Parallel()
		// The stall lasts three read timeouts, so that a loaded machine
		// that notices the silence late still sees it end the stream.
		sink, log, _ := start(t, "cam4", Options{ReadTimeout: 2 * time.Second, OfflineAfter: 20 * time.Second})
		recording(t, sink, 6*time.Second)
		sim.Camera("cam4").Drop()
		recording(t, sink, 5*time.Second)
		sim.Camera("cam4").Stall(6 * time.Second)
		time.Sleep(6 * time.Second)
		recording(t, sink, 5*time.Second)
		if _, _, starts, _ := sink.snapshot(); starts < 3 {
			t.Errorf("%d streams, want ≥ 3 (drop and stall each end one)", starts)
		}
		if got := log.types(); len(got) != 0 {
			t.Errorf("short outages raised events %v (hysteresis)", got)
		}
	})
	t.Run("offline and back", func(t *testing.T) {
		t.Parallel()
		sink, log, cam := start(t, "cam5", Options{OfflineAfter: time.Second})
		recording(t, sink, 6*time.Second)
		sim.Camera("cam5").Offline(3 * time.Second)
		testenv.WaitFor(t, "offline state", 4*time.Second, func() bool { return cam.Status().State == Offline })
		recording(t, sink, 6*time.Second)
		testenv.WaitFor(t, "events", time.Second, func() bool { return len(log.types()) == 2 })
		if got := log.types(); got[0] != events.CameraOffline || got[1] != events.CameraOnline {
			t.Errorf("events %v, want offline then online", got)
		}
	})
	t.Run("timestamp jump and wrap", func(t *testing.T) {
		t.Parallel()
		sink, _, _ := start(t, "cam6", Options{})
		recording(t, sink, 6*time.Second)
		sim.Camera("cam6").JumpTimestamps(time.Hour)
		recording(t, sink, 3*time.Second)
		sim.Camera("cam6").JumpTimestamps(-2 * time.Hour)
		recording(t, sink, 3*time.Second)
		sim.Camera("cam6").WrapTimestamps(500 * time.Millisecond)
		recording(t, sink, 3*time.Second)
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if sink.maxStep > 500*time.Millisecond {
			t.Errorf("largest DTS step %v across jumps", sink.maxStep)
		}
		if sink.starts != 1 {
			t.Errorf("%d streams, want 1: jumps must not reconnect", sink.starts)
		}
	})
}
