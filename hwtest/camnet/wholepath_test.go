package camnet_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/internal/camlab"
	"github.com/matthan/matthan/hwtest/testenv"
)

// plugged is one simulated camera on the camera network.
type plugged struct {
	cam       *camlab.Camera
	proc      *camlab.Proc
	ip        string
	password  string
	pluggedAt time.Time
}

// plugONVIF starts camsim in c's namespace as a camera at power-on: DHCP,
// then RTSP, ONVIF (clock 90 min off) and WS-Discovery on its interface,
// behind a login of its own.
func plugONVIF(t *testing.T, l *camlab.Lab, c *camlab.Camera, password string) *plugged {
	t.Helper()
	clips := filepath.Join(testenv.OutDir(), "clips")
	testenv.NeedFile(t, filepath.Join(clips, "moving-720p.h264"), "make clips")
	bin := testenv.BuildCommand(t, "./hwtest/cmd/camsim")
	p := &plugged{cam: c, password: password, pluggedAt: time.Now()}
	p.proc = l.Start(t, c.NS, bin, "-dhcp", camlab.CamIf, "-listen", ":554", "-control", "",
		"-cameras", "1", "-no-h265-camera", "-clips", clips, "-auth", "admin:"+password,
		"-discovery", camlab.CamIf, "-onvif-skew", "-90m", "-quiet")
	return p
}

func (p *plugged) waitLease(t *testing.T) {
	t.Helper()
	line := p.proc.WaitFor(t, "camsim: lease ", 40*time.Second)
	m := regexp.MustCompile(`lease (10\.77\.0\.\d+)/24`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("%s: lease line %q", p.cam.Name, line)
	}
	p.ip = m[1]
	p.proc.WaitFor(t, "camsim: ready", 20*time.Second)
}

type candidate struct {
	Key   string `json:"key"`
	Addr  string `json:"addr"`
	MAC   string `json:"mac"`
	Maker string `json:"maker"`
	State string `json:"state"`
}

type pairingStatus struct {
	Open       bool        `json:"open"`
	Candidates []candidate `json:"candidates"`
}

// post sends a JSON body and fails the test on a status other than 2xx.
func post(t *testing.T, c *adminclient.Client, path string, body any, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.Do(ctx, http.MethodPost, path, body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
	if out != nil {
		if err := jsonUnmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, b)
		}
	}
}

// segmentFiles lists the recording files of camera id under data.
func segmentFiles(data, id string) []string {
	var files []string
	filepath.WalkDir(filepath.Join(data, "recordings", id), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".mp4") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files
}

// frames counts the video frames ffprobe decodes in file.
func frames(t *testing.T, file string) int {
	t.Helper()
	ffprobe := testenv.LookTool(t, "ffprobe", "ffmpeg")
	out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file).Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
	return n
}

// TestCameraNetworkWholePath walks the household's path: four cameras
// plug in and get leases, the pairing button (SIGUSR1 on a host without
// GPIO) opens pairing, the box discovers them (WS-Discovery, ONVIF with a
// camera clock 90 min off), an officer logs in to each and pairs two to
// each of two households; their recordings are judged by ffprobe, each
// household sees only its own; a fifth camera, plugged in but never
// paired, is never recorded. With CAMNET_BENCH=1 it prints
// BENCH camnet_plug_to_recording_s (plug in, press the button, pair by
// API, first segment on disk) for the first camera.
func TestCameraNetworkWholePath(t *testing.T) {
	l := camlab.New(t)
	data := t.TempDir()
	b := box(t, l, data)

	adminclient.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			dl = time.Now().Add(30 * time.Second)
		}
		return camlab.Dial(l.WAN, addr, time.Until(dl))
	}
	defer func() { adminclient.DialContext = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := "https://" + camlab.BoxUplink + ":8443"
	officer, err := adminclient.FirstBoot(ctx, base, adminclient.SetupCode(b.Output()), adminclient.Fingerprint(b.Output()))
	if err != nil {
		t.Fatal(err)
	}
	households := []string{"ho-an", "ho-binh"}
	for _, h := range households {
		post(t, officer, "/api/households", map[string]string{"id": h, "name": "Hộ " + h, "address": "Thôn 1"}, nil)
		post(t, officer, "/api/users", map[string]string{"name": h + "-user", "password": "mat-khau-" + h + "-1", "role": "household", "household": h}, nil)
	}

	// Five cameras plug in at once.
	var cams []*plugged
	for i := 1; i <= 5; i++ {
		cams = append(cams, plugONVIF(t, l, l.AddCamera(fmt.Sprintf("cam%d", i)), fmt.Sprintf("ma-xac-minh-%d", i)))
	}
	for _, p := range cams {
		p.waitLease(t)
	}
	pressedAt := time.Now()
	if err := syscall.Kill(b.Cmd.Process.Pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	// All five are discovered and listed as new.
	var st pairingStatus
	deadline := time.Now().Add(40 * time.Second)
	for {
		if err := officer.GetJSON(ctx, "/api/pairing", &st); err != nil {
			t.Fatal(err)
		}
		if st.Open && len(st.Candidates) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the button press: pairing %+v; want open with 5 new cameras\nbox:\n%s", st, b.Output())
		}
		time.Sleep(300 * time.Millisecond)
	}
	byAddr := map[string]candidate{}
	for _, c := range st.Candidates {
		byAddr[c.Addr] = c
		if c.MAC == "" {
			t.Errorf("candidate %s has no MAC (not matched with its DHCP lease)", c.Addr)
		}
	}
	// Pair cameras 1–4: 1, 2 to ho-an, 3, 4 to ho-binh. Camera 5 stays new.
	ids := map[string]string{} // camera ID → household
	var paired []string
	for i, p := range cams[:4] {
		c, ok := byAddr[p.ip]
		if !ok {
			t.Fatalf("camera at %s not among the new cameras %+v", p.ip, st.Candidates)
		}
		var login struct {
			Candidate candidate `json:"candidate"`
		}
		post(t, officer, "/api/pairing/"+c.Key+"/login", map[string]string{"user": "admin", "password": p.password}, &login)
		if login.Candidate.State != "ready" {
			t.Fatalf("camera %s after login: state %q, want ready", p.ip, login.Candidate.State)
		}
		id, hh := fmt.Sprintf("nha-%d", i+1), households[i/2]
		post(t, officer, "/api/pairing/"+c.Key+"/pair", map[string]string{"id": id, "name": "Cổng nhà " + strconv.Itoa(i+1), "household": hh, "mode": "continuous"}, nil)
		ids[id] = hh
		paired = append(paired, id)
	}

	// Recording: each paired camera's first segment appears; ffprobe
	// judges it once it holds 2 s.
	var wg sync.WaitGroup
	firstSeg := make([]time.Time, len(paired))
	for i, id := range paired {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				files := segmentFiles(data, id)
				if len(files) > 0 && firstSeg[i].IsZero() {
					firstSeg[i] = time.Now()
				}
				if len(files) > 0 && frames(t, files[0]) >= 50 {
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
			t.Errorf("%s: no recording with 50 frames ffprobe decodes after 60 s (files %v)", id, segmentFiles(data, id))
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.Logf("box:\n%s", b.Output())
		return
	}
	// Nothing else was recorded: the fifth camera never.
	dirs, _ := os.ReadDir(filepath.Join(data, "recordings"))
	for _, d := range dirs {
		if _, ok := ids[d.Name()]; !ok && d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			t.Errorf("recordings of %q, which no one paired", d.Name())
		}
	}
	if err := officer.GetJSON(ctx, "/api/pairing", &st); err == nil {
		if c, ok := byAddr[cams[4].ip]; ok {
			found := false
			for _, s := range st.Candidates {
				found = found || s.Key == c.Key
			}
			if !found {
				t.Errorf("the unpaired fifth camera is no longer listed as new")
			}
		}
	}
	// Each household sees only its own cameras.
	for _, h := range households {
		hc, err := adminclient.Login(ctx, base, adminclient.Fingerprint(b.Output()), adminclient.Account{Name: h + "-user", Password: "mat-khau-" + h + "-1"})
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Cameras []struct {
				ID string `json:"id"`
			} `json:"cameras"`
		}
		if err := hc.GetJSON(ctx, "/api/cameras", &list); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range list.Cameras {
			got = append(got, c.ID)
		}
		var want []string
		for id, hh := range ids {
			if hh == h {
				want = append(want, id)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("household %s sees %v, want %v", h, got, want)
		}
	}
	plugToRec := firstSeg[0].Sub(cams[0].pluggedAt)
	t.Logf("camera 1: plugged in → first segment on disk %.1f s (button pressed %.1f s after plug-in)",
		plugToRec.Seconds(), pressedAt.Sub(cams[0].pluggedAt).Seconds())
	if os.Getenv("CAMNET_BENCH") == "1" {
		fmt.Printf("BENCH camnet_plug_to_recording_s %.1f s\n", plugToRec.Seconds())
	}
}
