// Package e2e tests matthand as a whole: real processes (matthand and the
// camsim camera simulator, built from this tree), real RTSP on 127.0.0.1,
// ffprobe and ffmpeg as judges of every recorded file.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/diag"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/testenv"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int { return testenv.FreeAddr(t).Port }

// proc is a child process whose output goes to a file.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  string
	done chan struct{}
	err  error
}

func startProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(out)
			t.Logf("--- %s output (last 4 KB) ---\n%s", name, b[max(0, len(b)-4096):])
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

// waitLine waits until the output contains s.
func (p *proc) waitLine(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.output(), s) {
		if p.exited() {
			t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, s)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v", p.name, s, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkNoPanic fails if the output shows a Go panic or fatal error.
func (p *proc) checkNoPanic(t *testing.T) {
	t.Helper()
	out := p.output()
	for _, bad := range []string{"panic:", "fatal error:", "DATA RACE"} {
		if i := strings.Index(out, bad); i >= 0 {
			t.Fatalf("%s: %q in its output:\n%s", p.name, bad, out[i:min(len(out), i+2000)])
		}
	}
}

// stop sends sig and waits up to d for the exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal, d time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v of %v", p.name, d, sig)
	}
	return time.Since(t0)
}

// camsim is a running camera simulator.
type camsimProc struct {
	*proc
	rtsp, control string
}

func startCamsim(t *testing.T, cameras int) *camsimProc {
	t.Helper()
	testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "clips", "moving-720p.hevc"), "make clips")
	return startCamsimArgs(t, "-cameras", strconv.Itoa(cameras))
}

// startCamsimArgs starts camsim on free ports with the clips of out/clips
// and the extra flags args.
func startCamsimArgs(t *testing.T, args ...string) *camsimProc {
	t.Helper()
	clips := filepath.Join(testenv.OutDir(), "clips")
	testenv.NeedFile(t, filepath.Join(clips, "moving-720p.h264"), "make clips")
	bin := testenv.BuildCommand(t, "./hwtest/cmd/camsim")
	rtsp := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	control := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProc(t, "camsim", bin, append([]string{"-listen", rtsp, "-control", control, "-clips", clips}, args...)...)
	p.waitLine(t, "camsim: ready", 30*time.Second)
	return &camsimProc{proc: p, rtsp: rtsp, control: control}
}

// fault posts a fault to camsim's control endpoint.
func (c *camsimProc) fault(t *testing.T, camera, action string) {
	t.Helper()
	resp, err := http.Post("http://"+c.control+"/cameras/"+camera+"/"+action, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		t.Fatalf("camsim %s %s: %s %s", camera, action, resp.Status, b.String())
	}
}

// lostPackets asks camsim how many packets each camera could not send
// (a reader's write queue was full).
func (c *camsimProc) lostPackets(t *testing.T) map[string]uint64 {
	t.Helper()
	resp, err := http.Get("http://" + c.control + "/cameras")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st []struct {
		Name string `json:"name"`
		Lost uint64 `json:"lost_packets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("camsim /cameras: %v", err)
	}
	out := map[string]uint64{}
	for _, s := range st {
		out[s.Name] = s.Lost
	}
	return out
}

// daemon is a running matthand, and an officer logged in on its admin
// page (the API answers only behind the page's login).
type daemon struct {
	*proc
	data   string
	base   string // https://127.0.0.1:PORT
	client *adminclient.Client
}

// tlsPorts keeps each data folder's HTTPS port across restarts.
var tlsPorts sync.Map

// startDaemon starts matthand with its plain-HTTP listener on port (and
// HTTPS on a free port kept for that data folder), then logs in as an
// officer (first boot: with the setup code the daemon printed).
func startDaemon(t *testing.T, data string, port int, extra []string, cams ...string) *daemon {
	t.Helper()
	return startDaemonVia(t, nil, data, port, extra, cams...)
}

// startDaemonVia is startDaemon with matthand run through a wrapper
// command that execs it (e.g. prlimit: the PID stays matthand's).
func startDaemonVia(t *testing.T, wrapper []string, data string, port int, extra []string, cams ...string) *daemon {
	t.Helper()
	bin := testenv.BuildCommand(t, "./daemon/cmd/matthand")
	tlsPort, _ := tlsPorts.LoadOrStore(data, freePort(t))
	args := []string{"-data", data, "-listen", fmt.Sprintf("127.0.0.1:%d", port), "-listen-tls", fmt.Sprintf("127.0.0.1:%d", tlsPort),
		"-allow-loopback-cameras"} // camsim on 127.0.0.1
	args = append(args, extra...)
	for _, c := range cams {
		args = append(args, "-camera", c)
	}
	if len(wrapper) > 0 {
		args = append(append(wrapper[1:len(wrapper):len(wrapper)], bin), args...)
		bin = wrapper[0]
	}
	p := startProc(t, "matthand", bin, args...)
	p.waitLine(t, "matthand ready", 30*time.Second)
	d := &daemon{proc: p, data: data, base: fmt.Sprintf("https://127.0.0.1:%d", tlsPort)}
	out := p.output()
	var err error
	d.client, err = adminclient.FirstBoot(context.Background(), d.base, adminclient.SetupCode(out), adminclient.Fingerprint(out))
	if err != nil {
		t.Fatalf("log in to the admin page: %v", err)
	}
	return d
}

// get GETs the daemon's diagnostic API (path /api/X is served at
// /api/daemon/X, for officers).
func (d *daemon) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := d.client.Get(d.base + "/api/daemon/" + strings.TrimPrefix(path, "/api/"))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		t.Fatalf("GET %s: %s %s", path, resp.Status, b.String())
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func (d *daemon) cameras(t *testing.T) map[string]diag.Camera {
	var cams []diag.Camera
	d.get(t, "/api/cameras", &cams)
	out := map[string]diag.Camera{}
	for _, c := range cams {
		out[c.Name] = c
	}
	return out
}

func (d *daemon) segments(t *testing.T, camera string) []diag.Segment {
	var segs []diag.Segment
	now := time.Now().UTC()
	d.get(t, fmt.Sprintf("/api/segments?camera=%s&from=%s&to=%s", camera,
		now.Add(-24*time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), &segs)
	return segs
}

// events lists the camera connection events (offline, online), newest
// first; motion events (the simulated scenes move) are left out.
func (d *daemon) events(t *testing.T) []events.Event {
	var evs []events.Event
	d.get(t, "/api/events?limit=5000", &evs)
	var out []events.Event
	for _, e := range evs {
		if e.Type == events.CameraOffline || e.Type == events.CameraOnline {
			out = append(out, e)
		}
	}
	return out
}

// waitRecording waits until every camera has recorded a picture in the last
// half second after since.
func (d *daemon) waitRecording(t *testing.T, since time.Time, within time.Duration, names ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		cams := d.cameras(t)
		var missing []string
		for _, n := range names {
			c := cams[n]
			if c.State != "recording" || !c.Stats.LastPicture.After(since) || time.Since(c.Stats.LastPicture) > 500*time.Millisecond {
				missing = append(missing, fmt.Sprintf("%s(%s, last picture %s)", n, c.State, c.Stats.LastPicture.Format("15:04:05.000")))
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recording within %v: %v", within, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// segmentFiles lists the .mp4 files under DATA/recordings/camera,
// relative to DATA/recordings.
func segmentFiles(t *testing.T, data, camera string) []string {
	t.Helper()
	root := filepath.Join(data, "recordings")
	var out []string
	err := filepath.WalkDir(filepath.Join(root, camera), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".mp4") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// probe is what ffprobe and ffmpeg say about a file.
type probe struct {
	frames   int // decoded
	packets  int // samples in the file
	duration float64
	codec    string
}

// judge runs ffprobe (frame count, duration) and a full ffmpeg decode,
// which must print nothing at -v error.
func judge(t *testing.T, file string) probe {
	t.Helper()
	ffprobe := testenv.LookTool(t, "ffprobe", "ffmpeg")
	ffmpeg := testenv.LookTool(t, "ffmpeg", "ffmpeg")
	cmd := exec.Command(ffprobe, "-v", "error", "-count_frames", "-count_packets", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,nb_read_packets,codec_name:format=duration", "-of", "json", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Errorf("ffprobe %s: %v\n%s", file, err, firstLines(stderr.Bytes(), 10))
	}
	var r struct {
		Streams []struct {
			Frames  string `json:"nb_read_frames"`
			Packets string `json:"nb_read_packets"`
			Codec   string `json:"codec_name"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Errorf("ffprobe %s: %v\n%s", file, err, out)
		return probe{}
	}
	var p probe
	p.frames, _ = strconv.Atoi(r.Streams[0].Frames)
	p.packets, _ = strconv.Atoi(r.Streams[0].Packets)
	p.duration, _ = strconv.ParseFloat(r.Format.Duration, 64)
	p.codec = r.Streams[0].Codec
	if p.frames != p.packets {
		t.Errorf("%s: %d samples but only %d decoded", file, p.packets, p.frames)
	}
	dec, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-threads", "1", "-i", file, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(dec)) > 0 {
		t.Errorf("ffmpeg decode of %s: %v\n%s", file, err, firstLines(dec, 10))
	}
	return p
}

func firstLines(b []byte, n int) string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() && len(out) < n {
		out = append(out, sc.Text())
	}
	return strings.Join(out, "\n")
}

// judgeAll judges files in parallel (two at a time) and returns the probes.
func judgeAll(t *testing.T, files []string) []probe {
	out := make([]probe, len(files))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = judge(t, f)
		}()
	}
	wg.Wait()
	return out
}

// checkIndexMatchesDisk compares the API's listing with the files.
func checkIndexMatchesDisk(t *testing.T, d *daemon, camera string) []diag.Segment {
	t.Helper()
	segs := d.segments(t, camera)
	var listed []string
	for _, s := range segs {
		listed = append(listed, s.File)
		if s.End.Before(s.Start) {
			t.Errorf("%s: segment %s ends before it starts", camera, s.File)
		}
		if fi, err := os.Stat(filepath.Join(d.data, "recordings", s.File)); err != nil {
			t.Errorf("%s: listed segment %s: %v", camera, s.File, err)
		} else if !s.Recording && fi.Size() != s.Bytes {
			t.Errorf("%s: segment %s is %d bytes on disk, index says %d", camera, s.File, fi.Size(), s.Bytes)
		}
	}
	sort.Strings(listed)
	disk := segmentFiles(t, d.data, camera)
	if strings.Join(listed, "\n") != strings.Join(disk, "\n") {
		t.Errorf("%s: index and disk disagree:\nindex: %v\ndisk:  %v", camera, listed, disk)
	}
	return segs
}
