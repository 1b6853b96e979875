package qemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/ntp"
	"github.com/matthan/matthan/daemon/timesync"
	"github.com/matthan/matthan/hwtest/testenv"
)

// withDataMark puts a data partition holding a last-known-good-time mark
// into a copy of the image: an ext4 made on the host (mke2fs -d at the
// partition's offset), as the box's own first boot would leave it.
func withDataMark(t *testing.T, image string, mark timesync.Mark) string {
	t.Helper()
	mkfs := testenv.LookTool(t, "mke2fs", "e2fsprogs")
	sfdisk := testenv.LookTool(t, "sfdisk", "fdisk")
	disk := copyDisk(t, image)
	out, err := exec.Command(sfdisk, "-J", disk).Output()
	if err != nil {
		t.Fatalf("sfdisk -J: %v", err)
	}
	var pt struct {
		PartitionTable struct {
			SectorSize int64 `json:"sectorsize"`
			Partitions []struct {
				Start, Size int64
				Name        string
			}
		}
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := timesync.WriteMark(filepath.Join(src, timesync.LastGoodFile), mark); err != nil {
		t.Fatal(err)
	}
	ss := max(pt.PartitionTable.SectorSize, 512)
	for _, p := range pt.PartitionTable.Partitions {
		if p.Name != "matthan-data" {
			continue
		}
		cmd := exec.Command(mkfs, "-q", "-F", "-t", "ext4", "-L", "matthan-data", "-m", "1", "-d", src,
			"-E", fmt.Sprintf("offset=%d", p.Start*ss), disk, fmt.Sprintf("%dk", p.Size*ss/1024))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mke2fs: %v\n%s", err, out)
		}
		return disk
	}
	t.Fatal("no matthan-data partition in the image")
	return ""
}

// clockStatus is GET /api/system/clock.
type clockStatus struct {
	Synced    bool      `json:"synced"`
	Source    string    `json:"source"`
	Server    string    `json:"server"`
	Steps     int       `json:"steps"`
	Now       time.Time `json:"now"`
	OffsetMs  int64     `json:"offsetMs"`
	SlewingMs int64     `json:"slewingMs"`
}

type clockSegment struct {
	segment
	ClockUnsynced bool `json:"clockUnsynced"`
	ClockStepped  bool `json:"clockStepped"`
}

// TestClockRestoredThenNTP boots a box as a Pi without an RTC comes back
// from a power cut (matthan.rtc=off: QEMU virt always has a PL031, which
// init is told to ignore) with nothing serving time: the clock comes from
// the last known good time on the data partition and is marked
// unsynchronised, and so are the segments recorded. Then an NTP server
// (daemon/ntp's, on the host, reached through QEMU's user network at
// 10.0.2.2) answers: the first sync steps the clock forward at once, the
// next slews a small correction; the segment index never goes back, the
// segments before the step are marked and those after are not, and
// ffprobe plays both.
func TestClockRestoredThenNTP(t *testing.T) {
	fw := firmware(t)
	startCameras(t)
	// The box's times: restored = the mark, one hour past both the image's
	// date and now (so that the host's cookie jar and TLS accept what the
	// box dates); true = 90 minutes after that (less than a session's
	// 2 h idle limit).
	base := fw.Firmware.Built
	if now := time.Now(); now.After(base) {
		base = now
	}
	restored := base.Add(time.Hour).UTC().Truncate(time.Second)
	shift := restored.Add(90 * time.Minute).Sub(time.Now())
	var extra atomic.Int64 // ns added to the served time later
	disk := withDataMark(t, fw.Image, timesync.Mark{Time: restored, Source: timesync.SourceNTP, Synced: true})

	// The NTP port is held from the start but not served: requests wait
	// in the socket until the server starts (the box's time out first).
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	o := directBoot(fw, fmt.Sprintf("matthan.rtc=off matthan.ntp=10.0.2.2:%d", port))
	o.Disk = disk
	m := boot(t, o)
	restoredLine := regexp.MustCompile(`clock +ok: ` + regexp.QuoteMeta(restored.Format(time.RFC3339)) + `, source disk \(unsynchronised until NTP\)`)
	waitLine(t, m, restoredLine, 90*time.Second)
	waitLine(t, m, readyLine, 90*time.Second)
	c, err := admin(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	status := func() clockStatus {
		t.Helper()
		var st clockStatus
		if err := c.GetJSON(ctx, "/api/system/clock", &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	listSegments := func(camera string) []clockSegment {
		t.Helper()
		var segs []clockSegment
		q := fmt.Sprintf("/api/daemon/segments?camera=%s&from=%s&to=%s", camera,
			restored.Add(-time.Hour).Format(time.RFC3339), restored.Add(6*time.Hour).Format(time.RFC3339))
		if err := c.GetJSON(ctx, q, &segs); err != nil {
			t.Fatal(err)
		}
		sort.Slice(segs, func(i, j int) bool { return segs[i].Start.Before(segs[j].Start) })
		return segs
	}
	st := status()
	if st.Synced || st.Source != "disk" || st.Steps != 0 || st.Now.Before(restored) || st.Now.After(restored.Add(5*time.Minute)) {
		t.Fatalf("before NTP: %+v, want unsynchronised, source disk, near %s", st, restored)
	}
	// Record a few seconds on the restored clock.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		if segs := listSegments(cameras[0]); len(segs) > 0 && segs[len(segs)-1].End.Sub(segs[0].Start) >= time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing recorded on the restored clock")
		}
	}

	srv := &ntp.Server{Now: func() time.Time { return time.Now().Add(shift + time.Duration(extra.Load())) }, Synced: func() bool { return true }}
	sctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Serve(sctx, conn)
	// The technician's "Sync now" (the box backs off while no server answers).
	if resp, err := c.Do(ctx, "POST", "/api/system/clock/sync", nil); err != nil || resp.StatusCode != 202 {
		t.Fatalf("sync now: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
		if st = status(); st.Synced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not synchronised 90 s after the NTP server started: %+v", st)
		}
	}
	truth := time.Now().Add(shift)
	if st.Source != "ntp" || st.Steps != 1 || st.Server != fmt.Sprintf("10.0.2.2:%d", port) || st.OffsetMs < 80*60*1000 {
		t.Errorf("after the first sync: %+v, want one forward step of ~90 min from 10.0.2.2:%d", st, port)
	}
	if d := st.Now.Sub(truth); d < -5*time.Second || d > 5*time.Second {
		t.Errorf("box time %s, true time %s", st.Now, truth)
	}
	stepAt := st.Now
	// A small correction later is slewed, not stepped.
	extra.Store(int64(400 * time.Millisecond))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		if st = status(); st.OffsetMs > 300 && st.OffsetMs < 500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 400 ms correction was not measured: %+v", st)
		}
	}
	if st.Steps != 1 || !st.Synced {
		t.Errorf("a 400 ms correction: %+v, want a slew (still one step)", st)
	}

	// Recording goes on after the step; the index never goes back.
	var segs []clockSegment
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		segs = listSegments(cameras[0])
		if n := len(segs); n > 0 && segs[n-1].Start.After(stepAt) && segs[n-1].End.Sub(segs[n-1].Start) >= 2*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no segment after the step: %+v", segs)
		}
	}
	var before, after *clockSegment
	for i := range segs {
		s := &segs[i]
		if s.End.Before(s.Start) {
			t.Errorf("segment %s ends before it starts", s.File)
		}
		if i > 0 && s.Start.Before(segs[i-1].End.Add(-time.Second)) {
			t.Errorf("segment %s starts %v before the previous one ended: time went back", s.File, segs[i-1].End.Sub(s.Start))
		}
		switch {
		case s.End.Before(stepAt.Add(-time.Hour)): // recorded on the restored clock
			if !s.ClockUnsynced {
				t.Errorf("segment %s, recorded before the sync, not marked", s.File)
			}
			before = s
		case s.Start.After(stepAt) && s.ClockUnsynced == false && after == nil:
			after = s
		}
	}
	if before == nil || after == nil {
		t.Fatalf("want a marked segment before the step and an unmarked one after: %+v", segs)
	}
	// A few seconds of each as the officer's signed export: ffprobe plays
	// them, and the manifest says which was recorded unsynchronised.
	for _, s := range []*clockSegment{before, after} {
		ex, err := c.Export(ctx, cameras[0], s.Start, s.Start.Add(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), path.Base(s.File))
		os.WriteFile(p, ex.Clip, 0o600)
		if n := probe(t, p); n == 0 {
			t.Errorf("export of %s: no frames", s.File)
		}
		man, err := evidence.ParseManifest(ex.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		if (len(man.ClockUnsynced) > 0) != s.ClockUnsynced {
			t.Errorf("export of %s (unsynchronised %v): manifest clockUnsynced %v", s.File, s.ClockUnsynced, man.ClockUnsynced)
		}
	}
	t.Logf("restored %s, stepped to %s, %d segments, marked %s, unmarked %s", restored.Format(time.TimeOnly), stepAt.Format(time.TimeOnly), len(segs), before.File, after.File)
	powerOff(t, m, true)
}
