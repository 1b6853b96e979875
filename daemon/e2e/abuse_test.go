package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/diag"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/testenv"
)

// The abuse mix (issue 9): what a household, or someone with no account,
// can throw at the admin page while the box records.
const (
	abuseLoginsPerSec = 1000
	abuseIdleConns    = 3000
	abuseDenials      = 10000
	abuseParamBytes   = 64 << 10
	// Bounds loose enough for a noisy shared machine (the targets are
	// printed by `make bench-abuse`, not asserted).
	abuseMaxGap = 5 * time.Second
	abuseMaxRSS = 500 << 20
	// abuseStopRSS ends the attack early to protect the machine (a daemon
	// without a bound on password hashing goes to gigabytes).
	abuseStopRSS = 1500 << 20
	// abuseTmpfsMB is the data disk of the "disk" part.
	abuseTmpfsMB  = 192
	abuseMinFree  = 16 // -min-free-mb
	abuseSeedSecs = 6  // recordings made before the attack, which retention may delete
	// abuseLead is how long after the daemon's start the attack begins.
	abuseLead = 15 * time.Second
	// abuseNoFile is the daemon's descriptor limit: under what the idle
	// connections alone would take (the finding: 4,068 idle connections
	// of 4,096 descriptors starved the recorder).
	abuseNoFile = 2048
)

// TestAbuse runs the built daemon (its own process: its RSS is read from
// /proc) with 4 simulated cameras under the abuse mix for 60 s:
//
//   - login: 1,000 login attempts per second with random user names, from
//     16 source addresses;
//   - idle: 3,000 connections that finish the TLS handshake and send
//     nothing, from 4 addresses, reopened when the box closes them;
//   - deny: 10,000 requests as a logged-in household for a camera not its
//     own, with 64 KB parameters (each one a denial the audit log sees);
//   - disk: the data disk is a 192 MB tmpfs holding some older recordings;
//     a file fills it to below the recordings' floor while recording, so
//     retention must make room as the cameras record (root only).
//
// The daemon runs with a descriptor limit of 2,048 (prlimit), which the
// idle connections alone would exhaust without the connection caps (as
// 4,068 idle connections did at 4,096 on a box whose init raised nothing).
// The attack begins 15 s after the daemon, so that the segments are cut
// (a new file each) in its middle. It checks that every
// camera recorded the whole time (no gap over 5 s by ffprobe: gaps between
// segments, missing frames inside them, and the end against wall time), RSS
// stays under 500 MB, the audit log is within its budget and its chain
// verifies (/api/audit/verify), and the daemon is alive.
//
// MATTHAN_ABUSE_PARTS=login,idle,deny,disk picks parts (default all);
// MATTHAN_ABUSE_SECONDS sets the duration (default 60);
// MATTHAN_ABUSE_AUDIT_MB is the audit log budget checked (default 32);
// MATTHAN_ABUSE_BENCH=1 prints BENCH lines and asserts nothing (make
// bench-abuse).
func TestAbuse(t *testing.T) {
	if testing.Short() {
		t.Skip("the abuse mix runs 60 s")
	}
	parts := abuseParts(t)
	secs := envFloat(t, "MATTHAN_ABUSE_SECONDS", 60)
	auditBudget := int64(envFloat(t, "MATTHAN_ABUSE_AUDIT_MB", 32) * (1 << 20))
	bench := os.Getenv("MATTHAN_ABUSE_BENCH") != ""
	testenv.LookTool(t, "ffprobe", "ffmpeg")

	data := t.TempDir()
	if parts["disk"] {
		if dir, err := mountTmpfs(t, abuseTmpfsMB); err != nil {
			t.Logf("disk part skipped: %v", err)
			delete(parts, "disk")
		} else {
			data = dir
		}
	}
	t.Logf("parts: %v, %.0f s", keys(parts), secs)

	sim := startCamsimArgs(t, "-cameras", "4", "-no-h265-camera", "-quiet")
	names := []string{"cam1", "cam2", "cam3", "cam4"}
	cfgFile := filepath.Join(t.TempDir(), "abuse.json")
	var cams []map[string]string
	for _, n := range names {
		c := map[string]string{"name": n, "url": "rtsp://" + sim.rtsp + "/" + n, "sub_url": "rtsp://" + sim.rtsp + "/" + n + "/sub"}
		if n == "cam4" {
			c["household"] = "h2" // the camera the attacking household may not see
		}
		cams = append(cams, c)
	}
	b, _ := json.Marshal(map[string]any{"data_dir": data, "cameras": cams})
	if err := os.WriteFile(cfgFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var wrapper []string
	if p, err := exec.LookPath("prlimit"); err == nil {
		wrapper = []string{p, fmt.Sprintf("--nofile=%d:%d", abuseNoFile, abuseNoFile)}
	} else {
		t.Log("prlimit missing: the daemon runs with this machine's descriptor limit")
	}
	// Motion analysis off: on this shared 2-core machine four analysed
	// 720p streams would compete with the attack for CPU; the test is
	// about what the web side can take from recording.
	extra := []string{"-config", cfgFile, "-min-free-mb", strconv.Itoa(abuseMinFree), "-no-motion"}
	port := freePort(t)

	var seedBytes int64
	if parts["disk"] {
		// Older recordings for retention to delete: segments are closed
		// at 60 s or at a stop, so record a few seconds and stop.
		dm := startDaemonVia(t, wrapper, data, port, extra)
		dm.waitRecording(t, time.Now(), 30*time.Second, names...)
		time.Sleep(abuseSeedSecs * time.Second)
		dm.stop(t, syscall.SIGTERM, 15*time.Second)
		seedBytes = dirBytes(filepath.Join(data, "recordings"))
		t.Logf("seeded %.1f MB of recordings", float64(seedBytes)/(1<<20))
	}
	started := time.Now()
	dm := startDaemonVia(t, wrapper, data, port, extra)
	dm.waitRecording(t, time.Now(), 30*time.Second, names...)
	officer := dm.client
	ctx := context.Background()
	fp := adminclient.Fingerprint(dm.output())

	// The attacking household: h1 with one account; cam4 is h2's.
	house := adminclient.Account{Name: "nha-mot", Password: "mat-khau-nha-mot-7391"}
	mustDo(t, officer, "POST", "/api/households", map[string]string{"id": "h1", "name": "Nhà một", "address": "1 Đường Làng"})
	mustDo(t, officer, "POST", "/api/users", map[string]string{"name": house.Name, "password": house.Password, "role": "household", "household": "h1"})
	hh, err := adminclient.Login(ctx, dm.base, fp, house)
	if err != nil {
		t.Fatal(err)
	}

	// The segments begun at the start are cut at 60 s: let that happen
	// in the middle of the attack (a new segment needs a descriptor).
	time.Sleep(time.Until(started.Add(abuseLead)))
	pid := dm.cmd.Process.Pid
	rss0 := readRSS(pid)
	attackCtx, stopAttack := context.WithTimeout(ctx, time.Duration(secs*float64(time.Second)))
	defer stopAttack()
	var (
		wg       sync.WaitGroup
		peakRSS  atomic.Int64
		stats    abuseStats
		earlyEnd atomic.Bool
	)
	peakRSS.Store(rss0)
	wg.Add(1)
	go func() { // RSS every 200 ms; a runaway daemon ends the attack
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-attackCtx.Done():
				return
			case <-tick.C:
			}
			r := readRSS(pid)
			for p := peakRSS.Load(); r > p && !peakRSS.CompareAndSwap(p, r); p = peakRSS.Load() {
			}
			if r > abuseStopRSS {
				earlyEnd.Store(true)
				stopAttack()
			}
		}
	}()
	t0 := time.Now()
	host := strings.TrimPrefix(dm.base, "https://")
	if parts["login"] {
		loginFlood(attackCtx, &wg, host, &stats)
	}
	if parts["idle"] {
		idleFlood(attackCtx, &wg, host, &stats)
	}
	if parts["deny"] {
		denyFlood(attackCtx, &wg, host, hh.Jar, secs, &stats)
	}
	var minFree atomic.Int64
	minFree.Store(1 << 62)
	if parts["disk"] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fillDisk(attackCtx, t, data, seedBytes, t0, time.Duration(secs*float64(time.Second)), &stats, &minFree)
		}()
	}
	<-attackCtx.Done()
	tEnd := time.Now()
	wg.Wait()
	if parts["disk"] {
		t.Logf("disk: least free %.1f MB (floor %d MB); recordings %.1f MB at the end, %.1f MB seeded before",
			float64(minFree.Load())/(1<<20), abuseMinFree, float64(dirBytes(filepath.Join(data, "recordings")))/(1<<20), float64(seedBytes)/(1<<20))
		if minFree.Load() > (abuseMinFree+8)<<20 {
			t.Logf("warning: the disk never came near the recordings' floor: this run did not test a full disk")
		}
	}
	t.Logf("attack %.1f s: logins %d (%.0f/s; statuses %v), idle connections open at most %d (%d dials, %d closed by the box), denials sent %d (statuses %v), disk filler %.1f MB",
		tEnd.Sub(t0).Seconds(), stats.logins.Load(), float64(stats.logins.Load())/tEnd.Sub(t0).Seconds(), stats.loginStatus.snapshot(),
		stats.idleMax.Load(), stats.idleDials.Load(), stats.idleClosed.Load(), stats.denials.Load(), stats.denyStatus.snapshot(),
		float64(stats.fillBytes.Load())/(1<<20))

	// The daemon lives and answers.
	if dm.exited() {
		t.Fatalf("matthand exited during the attack: %v", dm.err)
	}
	dm.checkNoPanic(t)
	time.Sleep(time.Second) // the last fragments written
	for _, c := range dm.cameras(t) {
		t.Logf("%s: %s, %d reconnects, %d dropped, %d sink errors, last error %q", c.Name, c.State, c.Stats.Reconnects, c.Stats.Dropped, c.Stats.SinkErrors, c.LastError)
	}
	gap, detail := recordingGaps(t, dm, names, t0, tEnd)
	peak := peakRSS.Load()
	auditBytes := filesBytes(filepath.Join(data, "web"), "audit")
	var verify struct {
		OK      bool   `json:"ok"`
		Records int    `json:"records"`
		Problem string `json:"problem"`
	}
	verifyErr := officer.GetJSON(ctx, "/api/audit/verify", &verify)
	t.Logf("max recording gap %.2f s (%s); RSS %.0f MB at the start, %.0f MB at the peak; audit log %.1f MB, %d records, verify ok=%v %s %v",
		gap.Seconds(), detail, float64(rss0)/(1<<20), float64(peak)/(1<<20), float64(auditBytes)/(1<<20), verify.Records, verify.OK, verify.Problem, verifyErr)
	if bench {
		fmt.Printf("BENCH abuse_max_recording_gap_s %.2f s\n", gap.Seconds())
		fmt.Printf("BENCH abuse_peak_rss_mb %.0f MB\n", float64(peak)/(1<<20))
		return
	}
	if earlyEnd.Load() {
		t.Errorf("RSS passed %d MB: the attack was stopped early", abuseStopRSS>>20)
	}
	if gap > abuseMaxGap {
		for _, l := range strings.Split(dm.output(), "\n") {
			if strings.Contains(l, "storage") || strings.Contains(l, "delet") || strings.Contains(l, "retention") || strings.Contains(l, "space") {
				t.Log(l)
			}
		}
		t.Errorf("a camera's recording has a gap of %.2f s (%s), want ≤ %v", gap.Seconds(), detail, abuseMaxGap)
	}
	if peak > abuseMaxRSS {
		t.Errorf("RSS reached %.0f MB, want < %d MB", float64(peak)/(1<<20), abuseMaxRSS>>20)
	}
	if auditBytes > auditBudget {
		t.Errorf("audit log %.1f MB, budget %.0f MB", float64(auditBytes)/(1<<20), float64(auditBudget)/(1<<20))
	}
	if verifyErr != nil || !verify.OK {
		t.Errorf("audit chain: ok=%v %q (%v)", verify.OK, verify.Problem, verifyErr)
	}
}

type abuseStats struct {
	logins, denials              atomic.Int64
	loginStatus, denyStatus      statusCount
	idleOpen, idleMax, idleDials atomic.Int64
	idleClosed, fillBytes        atomic.Int64
}

// statusCount counts answers by status ("err" for transport errors).
type statusCount struct {
	mu sync.Mutex
	m  map[string]int
}

func (s *statusCount) add(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]int{}
	}
	s.m[k]++
}

func (s *statusCount) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.m))
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

// transportFrom is a keep-alive HTTPS transport whose connections come
// from the loopback address src (each attacker its own source address).
func transportFrom(src string, conns int) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, TLSHandshakeTimeout: 10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second}
}

func statusKey(resp *http.Response, err error) string {
	if err != nil {
		return "err"
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// loginFlood sends abuseLoginsPerSec wrong logins per second with random
// user names (no per-user lockout helps) from 16 addresses, 16 workers each.
func loginFlood(ctx context.Context, wg *sync.WaitGroup, host string, st *abuseStats) {
	tokens := make(chan struct{}, abuseLoginsPerSec)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				for range abuseLoginsPerSec / 100 {
					select {
					case tokens <- struct{}{}:
					default: // the workers are behind: the rate is what they manage
					}
				}
			}
		}
	}()
	for a := 1; a <= 16; a++ {
		client := &http.Client{Transport: transportFrom(fmt.Sprintf("127.0.1.%d", a), 16), Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tokens:
					}
					form := url.Values{"username": {fmt.Sprintf("u%08x", rand.Uint32())}, "password": {"sai-mat-khau-123"}}
					req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+host+"/login", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					resp, err := client.Do(req)
					if ctx.Err() != nil {
						return
					}
					st.logins.Add(1)
					st.loginStatus.add(statusKey(resp, err))
				}
			}()
		}
	}
}

// idleFlood keeps abuseIdleConns connections open from 4 addresses: TLS
// handshake done, then nothing; a connection the box closes is reopened
// after half a second.
func idleFlood(ctx context.Context, wg *sync.WaitGroup, host string, st *abuseStats) {
	per := abuseIdleConns / 4
	for a := 1; a <= 4; a++ {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.2.%d", a))}, Timeout: 5 * time.Second}
		for range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					st.idleDials.Add(1)
					c, err := d.DialContext(ctx, "tcp", host)
					if err == nil {
						tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
						tc.SetDeadline(time.Now().Add(10 * time.Second))
						if tc.HandshakeContext(ctx) == nil {
							n := st.idleOpen.Add(1)
							for m := st.idleMax.Load(); n > m && !st.idleMax.CompareAndSwap(m, n); m = st.idleMax.Load() {
							}
							stop := context.AfterFunc(ctx, func() { c.Close() })
							tc.SetDeadline(time.Time{})
							io.Copy(io.Discard, tc) // until the box closes it
							stop()
							st.idleOpen.Add(-1)
						}
						c.Close()
						st.idleClosed.Add(1)
					}
					select {
					case <-ctx.Done():
					case <-time.After(time.Duration(400+rand.IntN(200)) * time.Millisecond):
					}
				}
			}()
		}
	}
}

// denyFlood sends abuseDenials requests over the attack, as the household
// (its session cookie) from 4 addresses: half name the foreign camera cam4
// with a 64 KB parameter beside it, half a 64 KB camera name.
func denyFlood(ctx context.Context, wg *sync.WaitGroup, host string, jar http.CookieJar, secs float64, st *abuseStats) {
	pad := strings.Repeat("A", abuseParamBytes)
	every := time.Duration(secs * float64(time.Second) / abuseDenials)
	tokens := make(chan int, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(tokens)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		start, sent := time.Now(), 0
		for sent < abuseDenials {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for due := int(time.Since(start) / every); sent < due && sent < abuseDenials; sent++ {
				select {
				case tokens <- sent:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	from := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	to := url.QueryEscape(time.Now().UTC().Format(time.RFC3339))
	for a := 1; a <= 4; a++ {
		client := &http.Client{Jar: jar, Transport: transportFrom(fmt.Sprintf("127.0.3.%d", a), 4), Timeout: 30 * time.Second}
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range tokens {
					path := "/api/segments?camera=cam4&from=" + from + "&to=" + to + "&note=" + pad
					if i%2 == 1 {
						path = "/api/segments?camera=" + pad + "&from=" + from + "&to=" + to
					}
					req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+host+path, nil)
					resp, err := client.Do(req)
					if ctx.Err() != nil {
						return
					}
					st.denials.Add(1)
					st.denyStatus.add(statusKey(resp, err))
				}
			}()
		}
	}
}

// fillDisk waits a quarter of the attack, then writes a file into the
// data folder until the free space is below the recordings' floor by what
// the cameras will record in the rest of the attack, less half the older
// recordings: retention must delete those while the cameras record.
func fillDisk(ctx context.Context, t *testing.T, data string, seedBytes int64, t0 time.Time, d time.Duration, st *abuseStats, minFree *atomic.Int64) {
	watch := func() int64 {
		f := freeBytes(data)
		for m := minFree.Load(); f < m && !minFree.CompareAndSwap(m, f); m = minFree.Load() {
		}
		return f
	}
	watch()
	// What the box writes: the recordings' sizes (free space moves in
	// steps: segment files are preallocated).
	rec0 := dirBytes(filepath.Join(data, "recordings"))
	select {
	case <-ctx.Done():
		return
	case <-time.After(d / 4):
	}
	free1 := watch()
	rate := float64(dirBytes(filepath.Join(data, "recordings"))-rec0) / time.Since(t0).Seconds()
	left := time.Until(t0.Add(d)).Seconds()
	target := int64(abuseMinFree<<20) + int64(rate*left) - min(seedBytes/2, int64(rate*left/2))
	t.Logf("disk: %.1f MB free, the box writes %.2f MB/s: filling to %.1f MB free", float64(free1)/(1<<20), rate/(1<<20), float64(target)/(1<<20))
	f, err := os.Create(filepath.Join(data, "filler.bin"))
	if err != nil {
		t.Errorf("filler: %v", err)
		return
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for ctx.Err() == nil && watch() > target+int64(len(chunk)) {
		n, err := f.Write(chunk)
		st.fillBytes.Add(int64(n))
		if err != nil {
			break
		}
	}
	for ctx.Err() == nil {
		watch()
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	// The disk gets its room back before the recordings are judged (or
	// retention would go on deleting while they are).
	f.Close()
	os.Remove(f.Name())
}

// recordingGaps judges every camera's recording over [t0, tEnd] with
// ffprobe: the holes between segments, the frames missing inside one
// (its duration against its packets at 25 fps), and the end against wall
// time. What retention deleted to hold the disk's floor is not a gap: a
// camera is judged from the end of its newest deletion. It returns the
// largest gap and where it was.
func recordingGaps(t *testing.T, dm *daemon, names []string, t0, tEnd time.Time) (time.Duration, string) {
	type probed struct {
		diag.Segment
		dur     time.Duration
		packets int
	}
	all := map[string][]probed{}
	for _, cam := range names {
		for _, s := range dm.segments(t, cam) {
			if !s.Recording && !s.End.IsZero() && !s.End.After(t0) {
				continue
			}
			file := filepath.Join(dm.data, "recordings", s.File)
			dur, packets, err := probeSegment(file)
			if _, serr := os.Stat(file); errors.Is(serr, os.ErrNotExist) {
				continue // deleted since it was listed: retention says so below
			}
			if err != nil {
				t.Errorf("%s: %s: %v", cam, s.File, err)
				continue
			}
			all[cam] = append(all[cam], probed{s, dur, packets})
		}
	}
	// Asked after the files: a deletion between listing and probing is in.
	var evs []events.Event
	dm.get(t, "/api/events?limit=5000", &evs)
	deleted := map[string]time.Time{}
	for _, e := range evs {
		if e.Type == events.RetentionPurge && e.End.After(deleted[e.Camera]) {
			deleted[e.Camera] = e.End
		}
	}
	var worst time.Duration
	where := "none"
	note := func(g time.Duration, format string, args ...any) {
		if g > worst {
			worst, where = g, fmt.Sprintf(format, args...)
		}
	}
	for _, cam := range names {
		from := t0
		if d := deleted[cam]; d.After(from) {
			t.Logf("%s: retention deleted recordings up to %s (%.1f s into the attack)", cam, d.Format("15:04:05.000"), d.Sub(t0).Seconds())
			from = d
		}
		segs := all[cam]
		sort.Slice(segs, func(i, j int) bool { return segs[i].Start.Before(segs[j].Start) })
		covered := from // recorded up to here
		for _, s := range segs {
			end := s.Start.Add(s.dur)
			if !end.After(from) {
				continue
			}
			note(s.Start.Sub(covered), "%s: %v without recording before %s", cam, s.Start.Sub(covered).Round(time.Millisecond), s.File)
			if missing := s.dur - time.Duration(s.packets)*time.Second/25; missing > 0 {
				note(missing, "%s: %v of frames missing inside %s", cam, missing.Round(time.Millisecond), s.File)
			}
			if end.After(covered) {
				covered = end
			}
		}
		note(tEnd.Sub(covered), "%s: recording ends %v before the end of the attack", cam, tEnd.Sub(covered).Round(time.Millisecond))
	}
	return worst, where
}

// probeSegment asks ffprobe for a segment's duration and video packets.
func probeSegment(file string) (time.Duration, int, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_packets:format=duration", "-of", "json", file).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("ffprobe: %w", err)
	}
	var r struct {
		Streams []struct {
			Packets string `json:"nb_read_packets"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		return 0, 0, fmt.Errorf("ffprobe: %v: %s", err, out)
	}
	sec, _ := strconv.ParseFloat(r.Format.Duration, 64)
	n, _ := strconv.Atoi(r.Streams[0].Packets)
	return time.Duration(sec * float64(time.Second)), n, nil
}

// mountTmpfs mounts a tmpfs of mb MB on a fresh folder (root only),
// unmounted when the test ends.
func mountTmpfs(t *testing.T, mb int) (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%dm,mode=0755", mb)); err != nil {
		return "", fmt.Errorf("mount tmpfs: %w", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir, nil
}

func freeBytes(dir string) int64 {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0
	}
	return int64(s.Bavail) * s.Bsize
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// filesBytes adds up the files in dir whose names start with prefix (a
// log and its rotated parts).
func filesBytes(dir, prefix string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			if fi, err := e.Info(); err == nil && !fi.IsDir() {
				n += fi.Size()
			}
		}
	}
	return n
}

// readRSS is a process's resident size in bytes (0 once it is gone).
func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

func mustDo(t *testing.T, c *adminclient.Client, method, path string, body any) {
	t.Helper()
	resp, err := c.Do(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
}

func abuseParts(t *testing.T) map[string]bool {
	all := []string{"login", "idle", "deny", "disk"}
	spec := os.Getenv("MATTHAN_ABUSE_PARTS")
	if spec == "" {
		spec = strings.Join(all, ",")
	}
	out := map[string]bool{}
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if !strings.Contains(","+strings.Join(all, ",")+",", ","+p+",") {
			t.Fatalf("MATTHAN_ABUSE_PARTS=%q: parts are %v", spec, all)
		}
		out[p] = true
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func envFloat(t *testing.T, name string, def float64) float64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}
