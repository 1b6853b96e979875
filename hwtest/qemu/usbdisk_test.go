package qemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/disks"
	"github.com/matthan/matthan/hwtest/adminclient"
)

// TestUSBRecordingDisk boots the box with its card (a virtio disk) and an
// emulated USB 3 controller, then, on that one booted machine, hot-plugs a
// blank USB disk through the QEMU monitor:
//   - attached: listed on the page with model, size and serial, and not
//     touched; confirmed by the technician: partitioned, formatted and
//     recorded to (the card gets no new segment);
//   - detached mid-recording: the page's alarm and the status LED, and
//     recording goes on on the card;
//   - attached again: adopted without a confirm, recorded to again, and
//     every segment from before (on the disk and on the card) is listed.
//
// At the end the USB disk image is read on the host: the recordings are on
// its matthan-rec file system.
func TestUSBRecordingDisk(t *testing.T) {
	fw := firmware(t)
	startCameras(t)
	card := copyDisk(t, fw.Image)
	usb := filepath.Join(t.TempDir(), "usb.img")
	if err := os.WriteFile(usb, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(usb, 1<<30); err != nil {
		t.Fatal(err)
	}
	o := directBoot(fw, "")
	o.Disk = card
	o.Extra = []string{"-device", "qemu-xhci,id=xhci",
		"-blockdev", "driver=file,filename=" + usb + ",node-name=usbfile",
		"-blockdev", "driver=raw,file=usbfile,node-name=usbdisk"}
	m := boot(t, o)
	waitLine(t, m, readyLine, 120*time.Second)
	if _, err := admin(m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tech, err := adminclient.Login(ctx, m.AdminURL(""), adminclient.Fingerprint(m.Console()), adminclient.Technician)
	if err != nil {
		t.Fatal(err)
	}
	waitRecorded(t, m, 3*time.Second, 90*time.Second)

	plug := func() {
		t.Helper()
		out, err := m.MonitorCommand("device_add usb-storage,bus=xhci.0,drive=usbdisk,id=usbstick,serial=MT0001")
		if err != nil || out != "" {
			t.Fatalf("device_add: %v %q", err, out)
		}
	}
	status := func() disks.Status {
		t.Helper()
		var st disks.Status
		if err := tech.GetJSON(ctx, "/api/disks", &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitStatus := func(what string, timeout time.Duration, ok func(disks.Status) bool) disks.Status {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			st := status()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v; page says %+v", what, timeout, st)
			}
			time.Sleep(time.Second)
		}
	}
	// listed returns each camera's segments by start.
	listed := func() map[string]map[time.Time]segment {
		t.Helper()
		out := map[string]map[time.Time]segment{}
		for _, c := range cameras {
			segs, err := segments(m, c)
			if err != nil {
				t.Fatal(err)
			}
			out[c] = map[time.Time]segment{}
			for _, s := range segs {
				out[c][s.Start] = s
			}
		}
		return out
	}
	// waitNewSegment waits until every camera has a segment that started at
	// or after since and holds d of video.
	waitNewSegment := func(what string, since time.Time, d time.Duration) map[string]map[time.Time]segment {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			l, done := listed(), 0
			for _, c := range cameras {
				for st, s := range l[c] {
					if !st.Before(since) && s.End.Sub(s.Start) >= d {
						done++
						break
					}
				}
			}
			if done == len(cameras) {
				return l
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no camera segment of %v since %s", what, d, since.Format("15:04:05.000"))
			}
			time.Sleep(time.Second)
		}
	}

	// 1. Attached: shown, not touched until confirmed.
	plug()
	st := waitStatus("the USB disk on the page", 60*time.Second, func(s disks.Status) bool { return len(s.Disks) == 1 })
	time.Sleep(3 * time.Second) // a second look: the SMART question's own error is not shown as the disk's
	st = status()
	d := st.Disks[0]
	t.Logf("USB disk: %+v", d)
	if d.SizeBytes != 1<<30 || d.Content != disks.Blank || d.Serial != "MT0001" || !strings.Contains(d.Vendor+d.Model, "QEMU") || !d.Health.OK() || d.Health.SMART != disks.SMARTUnavailable || st.State != disks.OnCard {
		t.Errorf("USB disk on the page: %+v, state %s", d, st.State)
	}
	time.Sleep(5 * time.Second) // two looks at the disks: still nothing written
	if head := readHead(t, usb); !bytes.Equal(head, make([]byte, len(head))) {
		t.Fatal("the disk was written to before a technician confirmed it")
	}
	resp, err := tech.Do(ctx, http.MethodPost, "/api/disks/confirm", map[string]string{"id": d.ID})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("confirm: %s %s", resp.Status, body)
	}
	st = status()
	if st.State != disks.OnDisk || st.Recording == nil {
		t.Fatalf("after the confirm: %+v", st)
	}
	onDiskSince := st.Since
	before := waitNewSegment("recording onto the USB disk", onDiskSince, 4*time.Second)

	// 2. Detached mid-recording.
	if out, err := m.MonitorCommand("device_del usbstick"); err != nil || out != "" {
		t.Fatalf("device_del: %v %q", err, out)
	}
	st = waitStatus("the alarm", 30*time.Second, func(s disks.Status) bool { return s.State == disks.Lost })
	if !strings.Contains(st.Alarm, "Mất ổ ghi hình USB") {
		t.Errorf("alarm %q", st.Alarm)
	}
	lostSince := st.Since
	deadline := time.Now().Add(10 * time.Second)
	for {
		var l struct {
			StatusLED string `json:"status_led"`
		}
		resp, err := adminGet(m, "/api/lights")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(b, &l); err == nil && l.StatusLED == "disk_problem" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("status LED %q, want disk_problem (%v)", l.StatusLED, err)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	outage := waitNewSegment("recording onto the card after the loss", lostSince.Add(-2*time.Second), 4*time.Second)
	var onDisk []time.Time
	for _, c := range cameras {
		for start := range before[c] {
			if !start.Before(onDiskSince) {
				onDisk = append(onDisk, start)
				if _, ok := outage[c][start]; ok {
					t.Errorf("%s: segment %s, recorded while the disk was attached, is listed while it is away: it was on the card", c, start)
				}
			}
		}
	}
	if len(onDisk) == 0 {
		t.Fatal("no segment was recorded onto the disk")
	}

	// 3. Attached again: adopted (no confirm), recorded to, nothing lost.
	plug()
	st = waitStatus("the disk adopted again", 60*time.Second, func(s disks.Status) bool { return s.State == disks.OnDisk })
	after := waitNewSegment("recording onto the USB disk again", st.Since, 4*time.Second)
	for _, c := range cameras {
		for start := range before[c] {
			if _, ok := after[c][start]; !ok && start.Before(lostSince.Add(-10*time.Second)) {
				t.Errorf("%s: segment %s from before the loss is not listed after the disk came back", c, start)
			}
		}
		for start := range outage[c] {
			if _, ok := after[c][start]; !ok {
				t.Errorf("%s: segment %s recorded on the card during the outage is not listed", c, start)
			}
		}
	}
	// One export spans the disk, the card and the disk again, and plays.
	first := time.Time{}
	for s := range before[cameras[0]] {
		if first.IsZero() || s.Before(first) {
			first = s
		}
	}
	frames := probe(t, export(t, m, cameras[0], first, time.Now().Add(time.Minute)))
	t.Logf("%s: %d frames exported across disk, card and disk", cameras[0], frames)
	powerOff(t, m, true)

	// On the host: the disk's file system holds the disk's segments.
	if os.Geteuid() != 0 {
		t.Log("not root: the USB image is not mounted on the host")
		return
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-o", "ro,loop,offset=1048576", usb, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount the USB image: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	files, _ := filepath.Glob(filepath.Join(dir, "recordings", cameras[0], "*", "*.mp4"))
	if len(files) == 0 {
		t.Fatalf("no segment of %s on the USB disk", cameras[0])
	}
	if n := probe(t, files[len(files)-1]); n == 0 {
		t.Errorf("%s: no frames", files[len(files)-1])
	}
	t.Logf("USB disk holds %d segments of %s", len(files), cameras[0])
}

func readHead(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1<<20)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatal(err)
	}
	return b
}
