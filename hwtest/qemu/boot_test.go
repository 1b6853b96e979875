package qemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/camsim/camsimtest"
	"github.com/matthan/matthan/hwtest/qemu"
	"github.com/matthan/matthan/hwtest/testenv"
	"github.com/matthan/matthan/image/build"
	"github.com/matthan/matthan/webadmin/box"
)

// One firmware build shared by every test of this package.
var (
	buildOnce sync.Once
	built     *build.Result
	buildErr  error
	camPort   int
	buildDir  string
)

var cameras = []string{"cam1", "cam2"}

// guestCameras is the kernel command line naming the simulated cameras
// as the guest sees them (the host is 10.0.2.2 under QEMU user net).
func guestCameras() string {
	var parts []string
	for _, c := range cameras {
		parts = append(parts, fmt.Sprintf("matthan.camera=%s=rtsp://10.0.2.2:%d/%s", c, camPort, c))
	}
	return strings.Join(parts, " ")
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{buildDir, updateDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// needQEMU checks the tools the boot tests use and chooses, once, the
// port of the simulated cameras that firmware command lines name.
func needQEMU(t *testing.T) {
	t.Helper()
	if err := qemu.Available(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	for tool, pkg := range map[string]string{"sfdisk": "fdisk", "mkfs.vfat": "dosfstools", "mcopy": "mtools", "depmod": "kmod", "apt-get": "apt", "ffprobe": "ffmpeg"} {
		testenv.LookTool(t, tool, pkg)
	}
	portOnce.Do(func() { camPort, portErr = qemu.FreePort() })
	if portErr != nil {
		t.Fatalf("camera port: %v", portErr)
	}
}

var (
	portOnce sync.Once
	portErr  error
)

// firmware builds the qemu-virt firmware once (kernel, initramfs, disk).
func firmware(t *testing.T) *build.Result {
	t.Helper()
	needQEMU(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "matthan-fw-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		built, buildErr = build.Build(ctx, build.Options{
			Board: "qemu-virt", Repo: testenv.RepoRoot(), Out: buildDir,
			Cache: filepath.Join(testenv.OutDir(), "cache"), Cmdline: guestCameras(),
		})
		if buildErr == nil {
			fmt.Printf("firmware built in %s: initramfs %d bytes, image %d bytes\n", time.Since(start).Round(time.Millisecond), built.InitramfsBytes, built.ImageBytes)
		}
	})
	if buildErr != nil {
		t.Fatalf("build firmware: %v", buildErr)
	}
	return built
}

// startCameras runs the camera simulator on the port the firmware's
// command line names.
func startCameras(t *testing.T) {
	t.Helper()
	camsimtest.Start(t, "-listen", fmt.Sprintf("127.0.0.1:%d", camPort), "-cameras", strconv.Itoa(len(cameras)), "-no-h265-camera", "-quiet")
}

type consoleLog struct{ t *testing.T }

func (c consoleLog) Write(p []byte) (int, error) {
	c.t.Logf("console: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func boot(t *testing.T, o qemu.Options) *qemu.Machine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if testing.Verbose() {
		o.Console = consoleLog{t}
	}
	m, err := qemu.Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		m.Wait(10 * time.Second)
		if t.Failed() && !testing.Verbose() {
			t.Logf("console:\n%s", m.Console())
		}
	})
	return m
}

var (
	daemonReady  = regexp.MustCompile(`msg="` + box.ReadyMessage + `"`)
	readyLine    = regexp.MustCompile(`^matthan: \[ *[0-9.]+\] ready: admin https://(\S+)/`)
	poweredOff   = regexp.MustCompile(`shutdown: done, power-off now`)
	daemonStops  = regexp.MustCompile(`shutdown: daemon stopped`)
	dataUnmount  = regexp.MustCompile(`shutdown: /data unmounted`)
	dataFormated = regexp.MustCompile(`data +ok: /dev/vda2 was empty: created ext4`)
	dataChecked  = regexp.MustCompile(`data +ok: /dev/vda2 checked`)
	dataOnRAM    = regexp.MustCompile(`data +ok: no partition .* recording to RAM`)
)

func waitLine(t *testing.T, m *qemu.Machine, re *regexp.Regexp, timeout time.Duration) qemu.Line {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l, err := m.WaitLine(ctx, re)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func directBoot(fw *build.Result, extra string) qemu.Options {
	return qemu.Options{Kernel: fw.Kernel, Initrd: fw.Initramfs,
		Cmdline: strings.TrimSpace("console=ttyAMA0 quiet " + guestCameras() + " " + extra)}
}

// segment is the daemon's /api/segments entry.
type segment struct {
	Camera    string    `json:"camera"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Bytes     int64     `json:"bytes"`
	File      string    `json:"file"`
	Recording bool      `json:"recording"`
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// admins holds each machine's officer session on its admin page.
var admins sync.Map // *qemu.Machine → *adminclient.Client

// admin logs in to the guest's admin page as an officer: on first boot
// with the setup code and certificate fingerprint from the serial console.
func admin(m *qemu.Machine) (*adminclient.Client, error) {
	if c, ok := admins.Load(m); ok {
		return c.(*adminclient.Client), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The setup code is printed just before the daemon's ready line, after
	// init's (the listeners and mDNS start in between): wait for it.
	if _, err := m.WaitLine(ctx, daemonReady); err != nil {
		return nil, fmt.Errorf("log in to the guest's admin page: %w", err)
	}
	console := m.Console()
	if strings.Contains(console, "pairing button held at power-on") {
		// Nobody pressed it: a misread line would arm the physical
		// officer reset on every boot.
		return nil, fmt.Errorf("the boot armed the physical officer reset, but no test holds the pairing button")
	}
	c, err := adminclient.FirstBoot(ctx, m.AdminURL(""), adminclient.SetupCode(console), adminclient.Fingerprint(console))
	if err != nil {
		return nil, fmt.Errorf("log in to the guest's admin page: %w", err)
	}
	admins.Store(m, c)
	return c, nil
}

// adminGet GETs path from the guest's admin page as an officer.
func adminGet(m *qemu.Machine, path string) (*http.Response, error) {
	c, err := admin(m)
	if err != nil {
		return nil, err
	}
	return c.Get(m.AdminURL(path))
}

func segments(m *qemu.Machine, camera string) ([]segment, error) {
	var segs []segment
	from := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	resp, err := adminGet(m, fmt.Sprintf("/api/daemon/segments?camera=%s&from=%s&to=%s", camera, from, to))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("segments of %s: %s: %s", camera, resp.Status, b)
	}
	return segs, json.Unmarshal(b, &segs)
}

// waitRecorded waits until every camera has recorded past `after` + d.
func waitRecorded(t *testing.T, m *qemu.Machine, d, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done := 0
		var first time.Time
		for _, c := range cameras {
			segs, err := segments(m, c)
			if err == nil && len(segs) > 0 {
				last := segs[len(segs)-1]
				if last.End.Sub(segs[0].Start) >= d {
					done++
				}
				if first.IsZero() || segs[0].Start.Before(first) {
					first = segs[0].Start
				}
			}
		}
		if done == len(cameras) {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("cameras did not record %s within %s", d, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// export saves a camera's recording of [from, to) as one MP4 through the
// page's signed, audited export (works on the segment still being written).
func export(t *testing.T, m *qemu.Machine, camera string, from, to time.Time) string {
	t.Helper()
	c, err := admin(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ex, err := c.Export(ctx, camera, from, to)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), camera+"-export.mp4")
	if err := os.WriteFile(p, ex.Clip, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func download(t *testing.T, m *qemu.Machine, path, name string) string {
	t.Helper()
	resp, err := adminGet(m, path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	f.Close()
	return p
}

// probe has ffprobe decode-count the video frames; errors mean the file
// does not play.
func probe(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,codec_name", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Errorf("ffprobe %s: %v\n%s", filepath.Base(path), err, out)
		return 0
	}
	fields := strings.Split(strings.TrimSpace(string(out)), ",")
	n, err := strconv.Atoi(fields[len(fields)-1])
	if err != nil || !strings.HasPrefix(string(out), "h264") {
		t.Errorf("ffprobe %s: unexpected output %q", filepath.Base(path), out)
	}
	return n
}

func copyDisk(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "disk.img")
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy disk: %v %s", err, out)
	}
	return dst
}

// powerOff presses the power button and checks the clean shutdown.
func powerOff(t *testing.T, m *qemu.Machine, withDisk bool) {
	t.Helper()
	if err := m.PowerButton(); err != nil {
		t.Fatal(err)
	}
	waitLine(t, m, daemonStops, 30*time.Second)
	if withDisk {
		waitLine(t, m, dataUnmount, 10*time.Second)
	}
	waitLine(t, m, poweredOff, 10*time.Second)
	if err := m.Wait(15 * time.Second); err != nil {
		t.Errorf("QEMU after power-off: %v", err)
	}
}

func TestDirectBootRecords(t *testing.T) {
	fw := firmware(t)
	startCameras(t)
	o := directBoot(fw, "")
	// As root, one camera more on the box's camera network (eth1, a tap
	// in a namespace): it must get its address from the box and be
	// discovered through the box's nf_tables fence.
	var lan *qemu.CameraLAN
	if os.Geteuid() == 0 {
		var err error
		if lan, err = qemu.NewCameraLAN("cnet-qt"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(lan.Stop)
		o.CameraNetdev, o.Files = lan.Netdev, lan.Files
	} else {
		t.Log("not root: the camera network's camera is left out (eth1 has nothing plugged in)")
	}
	m := boot(t, o)
	ready := waitLine(t, m, readyLine, 60*time.Second)
	t.Logf("ready %.1fs after QEMU started: %s", ready.At.Sub(m.Started).Seconds(), ready.Text)
	waitLine(t, m, dataOnRAM, time.Second)
	var health map[string]any
	if err := getJSON(m.URL("/api/health"), &health); err != nil {
		// The daemon may still be opening its listener.
		time.Sleep(2 * time.Second)
		if err := getJSON(m.URL("/api/health"), &health); err != nil {
			t.Fatalf("health through the port forward: %v", err)
		}
	}
	first := waitRecorded(t, m, 4*time.Second, 60*time.Second)
	// The camera network: init set the second NIC's address, the daemon
	// serves it (nf_tables fence, DHCP, SNTP: modules in the image).
	waitLine(t, m, regexp.MustCompile(`camnet +ok: eth1 10\.77\.0\.1/24`), 10*time.Second)
	waitLine(t, m, regexp.MustCompile(`camera network up`), 10*time.Second)
	if lan != nil {
		bin := testenv.BuildCommand(t, "./hwtest/cmd/camsim")
		if err := lan.Plug(context.Background(), bin, filepath.Join(testenv.OutDir(), "clips"), 1); err != nil {
			t.Fatal(err)
		}
		l := waitLine(t, m, regexp.MustCompile(`discovery: camera \S+ at 10\.77\.0\.1\d\d \(MAC`), 60*time.Second)
		t.Logf("camera network: %s", l.Text)
	}
	for _, c := range cameras {
		frames := probe(t, export(t, m, c, first.Add(-time.Minute), time.Now().Add(time.Minute)))
		if frames < 75 {
			t.Errorf("%s: %d frames recorded, want ≥ 75 (3 s at 25 fps)", c, frames)
		}
		t.Logf("%s: %d frames judged by ffprobe", c, frames)
	}
	powerOff(t, m, false)
}

func TestUEFIDiskBootRecordsOnDataPartition(t *testing.T) {
	fw := firmware(t)
	testenv.NeedFile(t, qemu.UEFIFirmware, "apt-get install qemu-efi-aarch64")
	startCameras(t)
	disk := copyDisk(t, fw.Image)
	m := boot(t, qemu.Options{Disk: disk})
	ready := waitLine(t, m, readyLine, 120*time.Second)
	t.Logf("UEFI: ready %.1fs after QEMU started", ready.At.Sub(m.Started).Seconds())
	waitLine(t, m, dataFormated, time.Second)
	// A normal boot of a confirmed slot brings the data to this
	// firmware's format (version 1: nothing to migrate, the file written).
	waitLine(t, m, regexp.MustCompile(`data-format +ok: version 1 \(from 1, 0 step\(s\) run\)`), 60*time.Second)
	first := waitRecorded(t, m, 3*time.Second, 60*time.Second)
	if n := probe(t, export(t, m, cameras[0], first.Add(-time.Minute), time.Now().Add(time.Minute))); n < 25 {
		t.Errorf("%s: %d frames recorded on the data partition, want ≥ 25", cameras[0], n)
	}
	powerOff(t, m, true)
}

func TestPowerCutKeepsRecordings(t *testing.T) {
	fw := firmware(t)
	startCameras(t)
	disk := copyDisk(t, fw.Image)
	o := directBoot(fw, "")
	o.Disk = disk
	m := boot(t, o)
	waitLine(t, m, readyLine, 90*time.Second)
	waitLine(t, m, dataFormated, time.Second)
	// First-boot login first: its four argon2 hashes (19 MiB each) take
	// seconds of the guest's CPU under TCG, and the recorders catch up
	// after; the cut must measure the recorder, not that burst.
	if _, err := admin(m); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	waitRecorded(t, m, 5*time.Second, 60*time.Second)
	time.Sleep(1300 * time.Millisecond) // cut between fragment boundaries
	killed := time.Now()
	m.Kill()
	t.Logf("power cut at %s", killed.Format("15:04:05.000"))

	m = boot(t, o)
	waitLine(t, m, readyLine, 90*time.Second)
	waitLine(t, m, dataChecked, time.Second)
	const maxLoss = 2 * time.Second       // the recorder's bound (config.DefaultMaxLoss)
	const slack = 1500 * time.Millisecond // camera to recorder under TCG, guest clock
	for _, c := range cameras {
		segs, err := segments(m, c)
		if err != nil {
			t.Fatal(err)
		}
		var last time.Time
		var before []segment
		for _, s := range segs {
			if s.Start.Before(killed) {
				before = append(before, s)
				if s.End.After(last) {
					last = s.End
				}
			}
		}
		if len(before) == 0 {
			t.Errorf("%s: nothing recorded before the power cut survived", c)
			continue
		}
		lost := killed.Sub(last)
		if lost > maxLoss+slack {
			t.Errorf("%s: the last %v before the power cut were lost (bound %v + %v)", c, lost.Round(time.Millisecond), maxLoss, slack)
		}
		frames := 0
		for _, s := range before {
			// Each segment as the admin page downloads it.
			n := probe(t, download(t, m, "/api/recordings/"+c+"/"+path.Base(s.File), c+"-"+path.Base(s.File)))
			if n == 0 {
				t.Errorf("%s: segment %s has no frames", c, s.File)
			}
			frames += n
		}
		t.Logf("%s: %d segment(s) from before the cut, %d frames, %v lost", c, len(before), frames, lost.Round(time.Millisecond))
	}
	powerOff(t, m, true)
}

func TestGPIOSelfTestOnPL061AndDHCP(t *testing.T) {
	fw := firmware(t)
	startCameras(t)
	// This boot also takes its address by DHCP (QEMU's user network
	// serves 10.0.2.15).
	m := boot(t, directBoot(fw, "matthan.selftest=1 matthan.ip=dhcp"))
	waitLine(t, m, regexp.MustCompile(`network +ok: eth0 10\.0\.2\.15/24 \(dhcp\)`), 90*time.Second)
	waitLine(t, m, readyLine, 90*time.Second)
	verdict := waitLine(t, m, regexp.MustCompile(`matthan: \[ *[0-9.]+\] selftest: (PASSED|FAILED)`), 90*time.Second)
	console := m.Console()
	for _, want := range []string{
		"selftest| PASS gpio ir_led (line 0)",
		"selftest| PASS gpio status_led (line 1)",
		"drove High: periph High, kernel hi",
		"drove Low: periph Low, kernel lo",
		"selftest| PASS gpio reserved (line 3)",
		"selftest| PASS network                eth0 10.0.2.15/24, name matthan-3456.local; admin page https://matthan-3456.local:8443/ or https://10.0.2.15:8443/",
	} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(verdict.Text, "FAILED") {
		t.Errorf("self-test failed: %s", verdict.Text)
	}
	// The self-test prints the box key's fingerprint, the same the daemon
	// printed at its start.
	fps := regexp.MustCompile(`(?:evidence key fingerprint:|PASS evidence key +vân tay / fingerprint) ((?:[0-9A-F]{4}-){15}[0-9A-F]{4})`).FindAllStringSubmatch(console, -1)
	if len(fps) < 2 || fps[0][1] != fps[len(fps)-1][1] {
		t.Errorf("box key fingerprints on the console (daemon, self-test): %v", fps)
	}
	powerOff(t, m, false)
}
