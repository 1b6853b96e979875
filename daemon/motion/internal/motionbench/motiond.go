package motionbench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/motion/internal/scenes"
)

// MotionCamera is one clip for the Motion daemon.
type MotionCamera struct {
	Name          string
	Width, Height int
	AUs           []media.AccessUnit
}

// MotionRun is what the Motion daemon reported for each camera, in clip
// seconds from the moment the clip's first frame was sent, and the CPU it
// used over the run.
type MotionRun struct {
	Motion map[string][]scenes.Detection
	CPU    time.Duration
	Wall   time.Duration
	// Dropped counts RTP packets Motion did not read in time (it fell
	// behind the stream).
	Dropped int64
}

// RunMotionDaemon serves the clips over RTSP and runs one Motion daemon
// (apt package motion) with one camera per clip for watch, with Motion's
// shipped defaults (framerate 15, threshold 1500 per 640x480 scaled to the
// picture, despeckle EedDl, minimum_motion_frames 1) except event_gap 2 s
// so that separate motions are separate events, no pictures or movies
// written and no web ports. Event start and end come from its
// on_event_start/on_event_end hooks stamped with the wall clock.
func RunMotionDaemon(ctx context.Context, cams []MotionCamera, watch time.Duration) (MotionRun, error) {
	run := MotionRun{Motion: map[string][]scenes.Detection{}}
	bin, err := exec.LookPath("motion")
	if err != nil {
		return run, fmt.Errorf("motion daemon not installed: apt-get install -y motion: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := startServer()
	if err != nil {
		return run, err
	}
	defer srv.close()
	dir, err := os.MkdirTemp("", "motionbench-")
	if err != nil {
		return run, err
	}
	defer func() {
		if os.Getenv("MOTIONBENCH_KEEP") == "" {
			os.RemoveAll(dir)
		} else {
			fmt.Println("# kept", dir)
		}
	}()
	evlog := filepath.Join(dir, "events.log")
	// Motion expands %-specifiers in hook commands (%N is its noise level),
	// so the wall clock is read by a script of our own.
	hook := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$1 $2 $(date +%s.%N)\" >> "+evlog+"\n"), 0o755); err != nil {
		return run, err
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "daemon off\nsetup_mode off\nlog_level 4\nlog_file %s/motion.log\ntarget_dir %s\n", dir, dir)
	fmt.Fprintf(&conf, "webcontrol_port 0\nstream_port 0\npid_file %s/motion.pid\n", dir)
	streams := map[string]*clipStream{}
	for _, c := range cams {
		cs, err := srv.add(ctx, c.Name, WithLeadIn(c.AUs), LeadDuration)
		if err != nil {
			return run, err
		}
		streams[c.Name] = cs
		camConf := filepath.Join(dir, c.Name+".conf")
		threshold := 1500 * c.Width * c.Height / (640 * 480)
		body := fmt.Sprintf(`camera_name %s
netcam_url rtsp://%s/%s
netcam_params rtsp_transport=tcp
width %d
height %d
framerate 15
threshold %d
despeckle_filter EedDl
minimum_motion_frames 1
event_gap 2
pre_capture 0
post_capture 0
picture_output off
movie_output off
on_event_start %s start %%$
on_event_end %s end %%$
`, c.Name, srv.addr, c.Name, c.Width, c.Height, threshold, hook, hook)
		if err := os.WriteFile(camConf, []byte(body), 0o644); err != nil {
			return run, err
		}
		fmt.Fprintf(&conf, "camera %s\n", camConf)
	}
	confPath := filepath.Join(dir, "motion.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		return run, err
	}
	cmd := exec.Command(bin, "-n", "-c", confPath)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return run, fmt.Errorf("start motion: %w", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
	}
	defer stop()

	// Wait until every clip plays, then measure over the lead-in and watch.
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := true
		for _, cs := range streams {
			if cs.Started().IsZero() {
				all = false
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "motion.log"))
			return run, fmt.Errorf("motion did not play every clip within 30 s; its log:\n%s", tail(log, 2000))
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	cpu0, wall0 := procCPU(cmd.Process.Pid), time.Now()
	select {
	case <-ctx.Done():
		return run, ctx.Err()
	case <-time.After(LeadDuration + watch):
	}
	run.CPU, run.Wall = procCPU(cmd.Process.Pid)-cpu0, time.Since(wall0)
	run.Dropped = srv.dropped.Load()
	stop()

	f, err := os.Open(evlog)
	if os.IsNotExist(err) {
		return run, nil
	}
	if err != nil {
		return run, err
	}
	defer f.Close()
	open := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue
		}
		cs := streams[fs[1]]
		wall, err := strconv.ParseFloat(fs[2], 64)
		if cs == nil || err != nil {
			continue
		}
		at := wall - float64(cs.Started().UnixNano())/1e9
		switch fs[0] {
		case "start":
			open[fs[1]] = len(run.Motion[fs[1]])
			run.Motion[fs[1]] = append(run.Motion[fs[1]], scenes.Detection{Start: at, End: 1e9, Reported: at})
		case "end":
			if i, ok := open[fs[1]]; ok {
				run.Motion[fs[1]][i].End = at
				delete(open, fs[1])
			}
		}
	}
	return run, sc.Err()
}

// procCPU is a process's user+system time from /proc (all its threads).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
