package pid1

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/timesync"
	"github.com/matthan/matthan/firmware/datapart"
	"github.com/matthan/matthan/firmware/netconf"
	"github.com/matthan/matthan/init/modload"
	"github.com/matthan/matthan/init/netup"
	"github.com/u-root/u-root/pkg/rtc"
	"github.com/u-root/u-root/pkg/watchdog"
	"golang.org/x/sys/unix"
)

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	optional               bool
}

var baseMounts = []mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", false},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", true},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755,size=16m", false},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777,size=64m", false},
	{"debugfs", "/sys/kernel/debug", "debugfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", true},
}

// raiseFileLimit sets RLIMIT_NOFILE to n, soft and hard, for init and the
// programs it starts (syscall.Setrlimit also makes Go's exec pass the new
// soft limit on, instead of the one the process started with).
func raiseFileLimit(n uint64) error {
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE %d: %w", n, err)
	}
	return nil
}

// mountBase mounts the kernel file systems init and the daemon need.
func mountBase() error {
	var errs []error
	for _, m := range baseMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil && !m.optional {
			errs = append(errs, err)
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) && !m.optional {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	os.Symlink("/proc/self/mounts", "/etc/mtab")
	os.Symlink("/dev/pts/ptmx", "/dev/ptmx")
	return errors.Join(errs...)
}

func (in *Init) loadModules() {
	dir, err := modload.Dir()
	if err != nil {
		in.stage("modules", err, "")
		return
	}
	n, took, err := modload.LoadAll(dir)
	in.stage("modules", err, "%d loaded in %.2fs", n, took.Seconds())
}

// setClock sets the system clock from the RTC, and never earlier than
// the image's source date. Once the data partition is mounted,
// restoreClock moves it on to the last known good time if that is later.
func (in *Init) setClock() {
	floor := in.release.Built
	var t time.Time
	src := "RTC"
	in.clockSource = timesync.SourceRTC
	var err error
	if in.settings.NoRTC {
		err = errors.New("ignored (matthan.rtc=off)")
	} else {
		var r *rtc.RTC
		if r, err = rtc.OpenRTC(); err == nil {
			t, err = r.Read()
			r.Close()
		}
	}
	if err != nil || t.Before(floor) {
		in.clockSource = timesync.SourceBuild
		if floor.IsZero() {
			in.stage("clock", err, "no RTC and no image date: clock left at %s", time.Now().UTC().Format(time.RFC3339))
			return
		}
		if err != nil {
			src = fmt.Sprintf("image date (RTC: %v)", err)
		} else {
			src = fmt.Sprintf("image date (RTC said %s)", t.UTC().Format(time.RFC3339))
		}
		t = floor
	}
	err = settime(t)
	in.stage("clock", err, "%s from %s", t.UTC().Format(time.RFC3339), src)
}

func settime(t time.Time) error {
	tv := unix.NsecToTimeval(t.UnixNano())
	return unix.Settimeofday(&tv)
}

// restoreClock sets the clock to the last known good time on the data
// partition when that is later than the clock (no RTC: a Pi after a power
// cut), so that the clock never goes back across a reboot, and tells the
// daemon how the clock was set (timesync.BootFile).
func (in *Init) restoreClock() {
	in.mu.Lock()
	onDisk := in.data.Mounted && !in.data.RAM
	in.mu.Unlock()
	dir := DataDir
	if !onDisk {
		dir = "" // nothing saved in RAM
	}
	m, err := timesync.Restore(dir, timesync.BootFile, time.Now(), settime, in.clockSource)
	sync := "unsynchronised"
	if m.Synced {
		sync = "synchronised"
	}
	in.stage("clock", err, "%s, source %s (%s until NTP)", m.Time.UTC().Format(time.RFC3339), m.Source, sync)
}

// saveClock advances the last known good time at shutdown (the daemon
// saves it every minute and when it stops; this covers a daemon that had
// to be killed).
func (in *Init) saveClock() {
	in.mu.Lock()
	onDisk := in.data.Mounted && !in.data.RAM
	in.mu.Unlock()
	if !onDisk {
		return
	}
	if err := timesync.Advance(filepath.Join(DataDir, timesync.LastGoodFile), time.Now()); err != nil {
		in.printf("shutdown: clock: %v", err)
	}
}

// startWatchdog opens the board's watchdog and pets it until ctx ends.
func (in *Init) startWatchdog(ctx context.Context) *watchdog.Watchdog {
	if in.board == nil || in.board.Watchdog == "" {
		in.stage("watchdog", nil, "board has none")
		return nil
	}
	var wd *watchdog.Watchdog
	var err error
	for i := 0; i < 10; i++ { // the driver may still be probing
		if wd, err = watchdog.Open(in.board.Watchdog); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		in.stage("watchdog", nil, "%s not present (%v): running without", in.board.Watchdog, err)
		return nil
	}
	const timeout = 30 * time.Second
	// (u-root's SetTimeout passes nanoseconds; the ioctl wants seconds.)
	if err := unix.IoctlSetPointerInt(int(wd.File.Fd()), unix.WDIOC_SETTIMEOUT, int(timeout/time.Second)); err != nil {
		in.printf("watchdog: set timeout: %v", err)
	}
	wd.KeepAlive()
	go func() {
		t := time.NewTicker(timeout / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				wd.KeepAlive()
			}
		}
	}()
	in.stage("watchdog", nil, "%s armed, %s timeout", in.board.Watchdog, timeout)
	return wd
}

func (in *Init) startNetwork(ctx context.Context) {
	saved := in.networkSetting()
	for _, p := range saved.Problems {
		in.printf("network: %s: %v", netconf.FileName, p)
	}
	cfg, from, err := uplinkConfig(in.board, saved, in.settings.IP)
	if err != nil {
		in.stage("network", err, "")
		return
	}
	nctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	addr, err := netup.Up(nctx, cfg)
	in.addr, in.uplink = addr, cfg.Interface
	how := "static"
	if cfg.DHCP {
		how = "dhcp"
	}
	in.stage("network", err, "%s %s (%s) from %s", cfg.Interface, addr, how, from)
}

// startCameraNetwork gives the board's camera interface its static
// address (the daemon serves DHCP and time on it and fences it off). The
// interface may appear late (a USB adapter plugged in after boot): init
// waits for it in the background, for as long as it runs.
func (in *Init) startCameraNetwork(ctx context.Context) {
	if in.board == nil || in.board.CameraNetwork == nil {
		return
	}
	cn := *in.board.CameraNetwork
	go func() {
		_, err := netup.Up(ctx, netup.Config{Interface: cn.Interface, Address: cn.Address})
		in.stage("camnet", err, "%s %s (camera network)", cn.Interface, cn.Address)
	}()
}

func (in *Init) prepareData(ctx context.Context) {
	label := datapart.DefaultLabel
	if in.settings.DataPart != "" {
		label = in.settings.DataPart
	}
	var dev string
	var err error
	wait := 2 * time.Second
	if in.board != nil && in.board.Disk.WaitMS > 0 {
		wait = time.Duration(in.board.Disk.WaitMS) * time.Millisecond
	}
	find := func() {
		for deadline := time.Now().Add(wait); ; { // disks appear as drivers probe
			if dev, err = datapart.FindByLabel("/sys/class/block", label); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	find()
	if err != nil {
		// A power cut while the partition table was being grown can leave
		// the primary GPT torn (then the kernel sees no partitions):
		// rebuild it from the whole backup at the disk's end.
		fixed, rerr := datapart.RepairDisks("/sys/class/block", label)
		if rerr != nil {
			in.printf("data partition: repair: %v", rerr)
		}
		if len(fixed) > 0 {
			in.printf("data partition: rebuilt the partition table of %s from its backup", strings.Join(fixed, ", "))
			find()
		}
	}
	if err != nil {
		in.dataOnRAM(fmt.Sprintf("no partition named %s", label))
		return
	}
	g, gerr := datapart.GrowDevice(dev, "/sys/class/block", in.growPhase)
	switch {
	case gerr != nil:
		in.printf("data partition: not grown: %v", gerr)
	case g.Grown():
		in.printf("data partition: grown to %.1f GiB (was %.1f GiB): %s partition %d now ends at the end of the disk",
			gib(g.NewSize), gib(g.OldSize), g.Disk, g.Partition)
	}
	res, err := datapart.Prepare(ctx, dev, DataDir, datapart.Tools{Mkfs: "/sbin/mke2fs", Fsck: "/sbin/e2fsck",
		Resize: "/sbin/resize2fs", Pause: in.growPhase}, in.Console)
	in.mu.Lock()
	in.data = DataStatus{Device: dev, Found: res.Found.String(), Formatted: res.Formatted, Fsck: res.Fsck}
	in.mu.Unlock()
	if err != nil {
		in.stage("data", err, "%s", dev)
		in.dataOnRAM("data partition unusable")
		return
	}
	in.mu.Lock()
	in.data.Mounted = true
	in.mu.Unlock()
	what := "checked (" + res.Fsck + ")"
	if res.Formatted {
		what = "was empty: created ext4 (first boot)"
	}
	if res.Resized {
		what += ", file system grown to the partition"
	}
	var st unix.Statfs_t
	unix.Statfs(DataDir, &st)
	in.stage("data", nil, "%s %s, mounted on %s (partition %.1f GiB, file system %.1f GiB)", dev, what, DataDir,
		gib(res.Bytes), gib(int64(st.Blocks)*st.Bsize))
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }

// growPhase reports a data partition grow phase on the console before it
// runs; with matthan.test.growcut=PHASE it stops there for good, so a
// test can cut the power at that point.
func (in *Init) growPhase(phase string) {
	in.printf("data partition: grow phase %s", phase)
	if in.settings.GrowCut == phase {
		in.printf("data partition: stopped before %s (matthan.test.growcut): cut the power now", phase)
		for {
			time.Sleep(time.Hour)
		}
	}
}

func (in *Init) dataOnRAM(why string) {
	os.MkdirAll(DataDir, 0o755)
	err := unix.Mount("tmpfs", DataDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=40%")
	in.mu.Lock()
	in.data.RAM = true
	in.data.Mounted = err == nil
	in.mu.Unlock()
	in.stage("data", err, "%s: recording to RAM (tmpfs on %s), lost at power-off", why, DataDir)
}
