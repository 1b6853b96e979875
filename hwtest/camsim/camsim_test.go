package camsim

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/matthan/matthan/hwtest/testenv"
)

// startSim serves n cameras (plus the H.265 one) on a free port for one
// test. cam1 starts 0.4 s before the end of its clip, so tests that read it
// for longer cross the loop point.
func startSim(t *testing.T, n int) *Sim {
	t.Helper()
	sim, err := Start(Config{Listen: "127.0.0.1:0", Cameras: n, ClipsDir: clipsDir(t), Logf: t.Logf, firstFrame: 10*FrameRate - 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// TestFFprobeReadsStreams has ffprobe, as an independent judge, read the
// main, sub and H.265 streams over RTSP/TCP for 4 s of media, and checks the
// codec, size, packet count (25 fps) and that reading took real time.
func TestFFprobeReadsStreams(t *testing.T) {
	ffprobe := testenv.LookTool(t, "ffprobe", "ffmpeg")
	sim := startSim(t, 3)
	// cam3 sends its parameter sets in the SDP only: ffprobe must still
	// decode it (from sprop-parameter-sets).
	sim.Camera("cam3").SetSDPOnly(true)
	g := together(t)
	defer g.Wait()
	for _, tt := range []struct {
		path          string
		codec         string
		width, height int
	}{
		{"cam1", "h264", 1280, 720},
		{"cam1/sub", "h264", 640, 360},
		{"cam2", "h264", 1280, 720},
		{"cam2/sub", "h264", 640, 360},
		{"cam3", "h264", 1280, 720},
		{"h265", "hevc", 1280, 720},
	} {
		g.Run(strings.ReplaceAll(tt.path, "/", "_"), func(t *testing.T) {
			const seconds = 4
			url := "rtsp://" + sim.Addr() + "/" + tt.path
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rtsp_transport", "tcp",
				"-read_intervals", fmt.Sprintf("%%+%d", seconds), "-count_packets", "-count_frames",
				"-select_streams", "v:0", "-show_entries",
				"stream=codec_name,width,height,r_frame_rate,nb_read_packets,nb_read_frames",
				"-of", "default=noprint_wrappers=1", url).Output()
			took := time.Since(start)
			if err != nil {
				t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
			}
			got := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					got[k] = v
				}
			}
			t.Logf("%s: %v in %v", url, got, took)
			if got["codec_name"] != tt.codec || got["width"] != strconv.Itoa(tt.width) || got["height"] != strconv.Itoa(tt.height) {
				t.Errorf("got %s %sx%s, want %s %dx%d", got["codec_name"], got["width"], got["height"], tt.codec, tt.width, tt.height)
			}
			if got["r_frame_rate"] != "25/1" {
				t.Errorf("frame rate %s, want 25/1", got["r_frame_rate"])
			}
			packets, _ := strconv.Atoi(got["nb_read_packets"])
			frames, _ := strconv.Atoi(got["nb_read_frames"])
			if want := seconds * FrameRate; packets < want-3 || packets > want+3 {
				t.Errorf("%d packets in %d s of media, want %d±3", packets, seconds, want)
			}
			// Frames before the first key frame cannot be decoded: at most one GOP.
			if frames < packets-50 {
				t.Errorf("%d of %d frames decoded", frames, packets)
			}
			if took < (seconds-1)*time.Second {
				t.Errorf("read %d s of media in %v: faster than real time", seconds, took)
			}
		})
	}
}

// group runs subtests at the same time whatever -parallel says: they
// mostly wait on real-time streams, and the default limit (GOMAXPROCS, 2
// here) would only make the package slow.
type group struct {
	t  *testing.T
	wg sync.WaitGroup
}

func together(t *testing.T) *group { return &group{t: t} }

// Run starts the subtest f in its own goroutine.
func (g *group) Run(name string, f func(t *testing.T)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.t.Run(name, f)
	}()
}

// Wait waits for every subtest.
func (g *group) Wait() { g.wg.Wait() }

// rxPacket is an RTP packet as a test client received it.
type rxPacket struct {
	at      time.Time
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte
}

// reader is a gortsplib client playing one stream over TCP and keeping
// every packet.
type reader struct {
	c      *gortsplib.Client
	desc   *description.Session
	codec  Codec
	mu     sync.Mutex
	pkts   []rxPacket
	closed chan error
}

func dial(url string) (*reader, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	tcp := gortsplib.TransportTCP
	r := &reader{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp, ReadTimeout: 5 * time.Second}, closed: make(chan error, 1)}
	if err := r.c.Start2(); err != nil {
		return nil, err
	}
	desc, _, err := r.c.Describe(u)
	if err != nil {
		r.c.Close()
		return nil, err
	}
	r.desc = desc
	if _, ok := desc.Medias[0].Formats[0].(*format.H265); ok {
		r.codec = H265
	}
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		r.c.Close()
		return nil, err
	}
	r.c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, p *rtp.Packet) {
		rp := rxPacket{at: time.Now(), seq: p.SequenceNumber, ts: p.Timestamp, marker: p.Marker, payload: bytes.Clone(p.Payload)}
		r.mu.Lock()
		r.pkts = append(r.pkts, rp)
		r.mu.Unlock()
	})
	if _, err := r.c.Play(nil); err != nil {
		r.c.Close()
		return nil, err
	}
	go func() { r.closed <- r.c.Wait() }()
	return r, nil
}

func mustDial(t *testing.T, url string) *reader {
	t.Helper()
	r, err := dial(url)
	if err != nil {
		t.Fatalf("play %s: %v", url, err)
	}
	t.Cleanup(r.c.Close)
	return r
}

// packets returns the packets received at or after from.
func (r *reader) packets(from time.Time) []rxPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []rxPacket
	for _, p := range r.pkts {
		if !p.at.Before(from) {
			out = append(out, p)
		}
	}
	return out
}

// frames returns one packet per access unit (the last, with the marker).
func frames(pkts []rxPacket) []rxPacket {
	var out []rxPacket
	for _, p := range pkts {
		if p.marker {
			out = append(out, p)
		}
	}
	return out
}

func payloads(pkts []rxPacket) [][]byte {
	out := make([][]byte, len(pkts))
	for i, p := range pkts {
		out[i] = p.payload
	}
	return out
}

// clipPayloads is the set of every payload a clip sends in normal and
// sdp-only mode.
func clipPayloads(c *Clip) map[string]bool {
	set := map[string]bool{}
	for _, f := range c.Frames {
		for _, p := range f.InBand {
			set[string(p)] = true
		}
		for _, p := range f.NoParams {
			set[string(p)] = true
		}
	}
	return set
}

// TestNormalStream checks pacing, wall-clock timestamps, sequence numbers,
// parameter sets in band and in the SDP, and that every payload is the clip's.
func TestNormalStream(t *testing.T) {
	sim := startSim(t, 1)
	g := together(t)
	defer g.Wait()
	for _, cam := range []*Camera{sim.Camera("cam1"), sim.Camera("h265")} {
		for _, st := range []*stream{cam.main, cam.sub} {
			g.Run(strings.ReplaceAll(st.path, "/", "_"), func(t *testing.T) {
				r := mustDial(t, "rtsp://"+sim.Addr()+"/"+st.path)
				switch f := r.desc.Medias[0].Formats[0].(type) {
				case *format.H264:
					if f.SPS == nil || f.PPS == nil {
						t.Error("SDP without SPS/PPS")
					}
				case *format.H265:
					if f.VPS == nil || f.SPS == nil || f.PPS == nil {
						t.Error("SDP without VPS/SPS/PPS")
					}
				}
				time.Sleep(500 * time.Millisecond)
				from := time.Now()
				time.Sleep(2200 * time.Millisecond) // > one GOP (2 s)
				pkts := r.packets(from)
				fr := frames(pkts)
				// Arrival jitter moves frames across the window's edges; the
				// lag check below pins each frame to its wall-clock due time.
				if len(fr) < 50 || len(fr) > 60 {
					t.Errorf("%d frames in 2.2 s, want 55±5", len(fr))
				}
				for i := 1; i < len(fr); i++ {
					if d := fr[i].ts - fr[i-1].ts; d != rtpClockRate/FrameRate {
						t.Errorf("frame %d: timestamp step %d, want %d", i, d, rtpClockRate/FrameRate)
						break
					}
				}
				for i := 1; i < len(pkts); i++ {
					if pkts[i].seq != pkts[i-1].seq+1 {
						t.Errorf("sequence %d after %d", pkts[i].seq, pkts[i-1].seq)
						break
					}
				}
				for _, f := range fr {
					// The timestamp is the frame's due time; it leaves at that time.
					lag := int64(rtpTime(f.at)-f.ts) * 1000 / rtpClockRate
					if lag < -5 || lag > 500 {
						t.Errorf("timestamp %d ms behind the wall clock, want 0…500", lag)
						break
					}
				}
				if !hasParamSets(st.clip.Codec, payloads(pkts)) {
					t.Error("no parameter sets in band over a whole GOP")
				}
				set := clipPayloads(st.clip)
				for _, p := range pkts {
					if !set[string(p.payload)] {
						t.Fatalf("payload %x… not from the clip", p.payload[:min(8, len(p.payload))])
					}
				}
			})
		}
	}
}

func TestStartConfig(t *testing.T) {
	dir := clipsDir(t)
	for _, tt := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"negative cameras", Config{Cameras: -1, ClipsDir: dir}, "cameras"},
		{"H.265 camera out of range", Config{Cameras: 2, H265Cameras: []int{3}, ClipsDir: dir}, "not one of cam1"},
		{"no clips", Config{Cameras: 1, ClipsDir: t.TempDir()}, "make clips"},
		{"bad listen address", Config{Listen: "127.0.0.1:-5", Cameras: 1, ClipsDir: dir}, "listen"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := Start(tt.cfg)
			if err == nil {
				sim.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to mention %q", err, tt.wantErr)
			}
		})
	}

	sim, err := Start(Config{Listen: "127.0.0.1:0", Cameras: 3, H265Cameras: []int{2}, NoH265Camera: true, ClipsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if got := strings.Join(sim.CameraNames(), ","); got != "cam1,cam2,cam3" {
		t.Errorf("cameras %s", got)
	}
	r := mustDial(t, sim.Camera("cam2").URL())
	if r.codec != H265 {
		t.Errorf("cam2 serves %T, want H.265", r.desc.Medias[0].Formats[0])
	}
	if s := mustDial(t, sim.Camera("cam2").SubURL()); s.codec != H264 {
		t.Error("cam2/sub is not H.264")
	}
	if _, err := dial("rtsp://" + sim.Addr() + "/cam9"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown path: %v, want 404", err)
	}
}

// TestAuth: a camera that asks for credentials, like real ones do.
func TestAuth(t *testing.T) {
	sim, err := Start(Config{Listen: "127.0.0.1:0", Cameras: 1, NoH265Camera: true, ClipsDir: clipsDir(t), User: "admin", Password: "mật-khẩu 1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	url := func(userinfo string) string { return "rtsp://" + userinfo + sim.Addr() + "/cam1" }
	for _, tt := range []struct {
		name, userinfo string
		ok             bool
	}{
		{"no credentials", "", false},
		{"wrong password", "admin:12345@", false},
		{"wrong user", "root:m%E1%BA%ADt-kh%E1%BA%A9u%201@", false},
		{"right", "admin:m%E1%BA%ADt-kh%E1%BA%A9u%201@", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dial(url(tt.userinfo))
			if !tt.ok {
				if err == nil {
					r.c.Close()
					t.Fatal("played without the right credentials")
				}
				if !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "EOF") {
					t.Errorf("error %v, want 401 Unauthorized or a closed connection", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.c.Close()
			time.Sleep(300 * time.Millisecond)
			if len(r.packets(time.Time{})) == 0 {
				t.Error("no packets")
			}
		})
	}
	t.Run("ffprobe", func(t *testing.T) {
		ffprobe := testenv.LookTool(t, "ffprobe", "ffmpeg")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rtsp_transport", "tcp", "-read_intervals", "%+1",
			"-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", url("admin:m%E1%BA%ADt-kh%E1%BA%A9u%201@")).CombinedOutput()
		if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || n < 20 {
			t.Errorf("ffprobe with credentials: %v, %q", err, out)
		}
	})
}
