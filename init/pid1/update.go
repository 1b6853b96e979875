package pid1

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/firmware/dataformat"
	"github.com/matthan/matthan/firmware/datapart"
	"github.com/matthan/matthan/firmware/health"
	"github.com/matthan/matthan/firmware/slot"
	"github.com/matthan/matthan/firmware/update"
	"golang.org/x/sys/unix"
)

// UpdateStateDir is where firmware/update keeps the last attempt, on
// the data partition.
const UpdateStateDir = DataDir + "/update"

// ChosenBootloader is where the Pi firmware says what it booted.
const ChosenBootloader = "/proc/device-tree/chosen/bootloader"

// booter returns the board's slot mechanism, with the boot partition
// mounted (unmount when done); nil when the box did not boot from a slot
// (a direct kernel boot in tests).
func (in *Init) booter() (slot.Booter, func(), error) {
	if in.board == nil {
		return nil, func() {}, nil
	}
	line, _ := os.ReadFile("/proc/cmdline")
	switch in.board.Boot.Method {
	case board.BootUEFI:
		if in.settings.Slot == "" {
			return nil, func() {}, nil
		}
		dir, unmount := in.mountBoot()
		if dir == "" {
			return nil, func() {}, errors.New("boot partition not found or not mountable")
		}
		return &slot.UEFI{ESP: dir, Cmdline: string(line), Tries: in.settings.UpdateTries}, unmount, nil
	case board.BootRPi:
		if _, err := os.Stat(filepath.Join(ChosenBootloader, "partition")); err != nil {
			return nil, func() {}, nil
		}
		dir, unmount := in.mountBoot()
		if dir == "" {
			return nil, func() {}, errors.New("boot partition not found or not mountable")
		}
		// The slot partitions are mounted only by an install.
		return &slot.RPi{Boot: dir, Chosen: ChosenBootloader}, unmount, nil
	}
	return nil, func() {}, nil
}

// updater is the box's firmware/update.Updater.
func (in *Init) updater(b slot.Booter) *update.Updater {
	keys, _ := bundle.LoadKeys(bundle.KeysPathOnBox) // none: every bundle is refused
	return &update.Updater{Booter: b, Keys: keys, Running: in.release, StateDir: UpdateStateDir}
}

// checkUpdate runs after the daemon answers: on a trial boot of a new
// slot it waits for the box to be healthy (init up, data mounted, daemon
// ready, as many cameras online as before the update) within the
// deadline, then confirms the slot; if it is not healthy in time, it
// reboots, and the boot loader brings the old slot back. On the old slot
// after such a rollback, it records the outcome for the page.
func (in *Init) checkUpdate(ctx context.Context) {
	in.updateMu.Lock()
	defer in.updateMu.Unlock()
	b, unmount, err := in.booter()
	defer unmount()
	if err != nil {
		in.stage("update", err, "slots")
		return
	}
	if b == nil { // not booted from a slot: no trial, the data may migrate
		if err := in.migrateData(ctx); err != nil {
			in.stage("data-format", err, "migration")
		}
		return
	}
	boot, err := b.Running()
	if err != nil {
		in.stage("update", err, "slots")
		return
	}
	u := in.updater(b)
	out, err := u.AfterBoot(ctx, in.updateHealth, in.settings.UpdateDeadline, in.migrateData)
	switch {
	case err != nil:
		in.stage("update", err, "slot %s", boot.Slot)
	case out.Phase == update.Confirmed && boot.Trial:
		in.stage("update", nil, "slot %s confirmed: %s (counter %d) is healthy", boot.Slot, in.release.Version, in.release.Counter)
	case out.Phase == update.Failed && boot.Trial:
		in.stage("update", errors.New(out.Reason), "slot %s not healthy: back to the old slot", boot.Slot)
		unmount()
		in.Shutdown(true)
	case out.Phase == update.Interrupted:
		in.stage("update", errors.New(out.Reason), "slot %s", boot.Slot)
	case out.Phase == update.RolledBack:
		in.stage("update", errors.New(out.Reason), "%s / %s (slot %s runs)", update.RolledBackVI, update.RolledBackEN, boot.Slot)
	default:
		in.stage("update", nil, "slot %s", boot.Slot)
	}
}

// migrateData brings the data partition to this firmware's format
// (firmware/dataformat); AfterBoot calls it only on a confirmed slot.
// The daemon is stopped while migrations run and started again after,
// even when one fails (recording comes first; the next boot resumes the
// migration). Data newer than this firmware knows is left as it is, and
// the daemon carries on.
func (in *Init) migrateData(ctx context.Context) error {
	in.mu.Lock()
	mounted := in.data.Mounted
	in.mu.Unlock()
	if !mounted {
		return nil
	}
	set := dataformat.Set{Dir: DataDir, Migrations: dataformat.Migrations, Logf: in.printf}
	if n, err := set.Pending(); err != nil {
		return err
	} else if n > 0 && in.daemon != nil {
		in.daemon.Stop(ctx)
		defer in.startDaemon(ctx)
	}
	res, err := set.Run(ctx)
	switch {
	case err != nil:
		return err
	case res.Newer && res.Compatible:
		in.stage("data-format", nil, "version %d, newer than this firmware's %d but readable by it: left as it is", res.From, set.Latest())
	case res.Newer:
		in.stage("data-format", fmt.Errorf("version %d (compat %d, migrating toward %d), newer than this firmware's %d", res.From, res.Compat, res.Toward, set.Latest()),
			"left as it is; recording carries on, settings written by the newer firmware may be misread")
	default:
		in.stage("data-format", nil, "version %d (from %d, %d step(s) run)", res.To, res.From, res.Steps)
	}
	return nil
}

// updateHealth is the trial slot's health check.
func (in *Init) updateHealth(ctx context.Context, st update.State) error {
	in.mu.Lock()
	data := in.data
	in.mu.Unlock()
	if !data.Mounted {
		return errors.New("data partition not mounted")
	}
	code, body, err := health.Get("127.0.0.1:"+in.adminPort(), "/api/health", 2*time.Second)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if code != 200 {
		return fmt.Errorf("daemon: /api/health answered %d", code)
	}
	var h struct {
		CamerasOnline int `json:"camerasOnline"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("daemon: /api/health: %w", err)
	}
	if h.CamerasOnline < st.CamerasOnline {
		return fmt.Errorf("%d camera(s) recording, %d before the update", h.CamerasOnline, st.CamerasOnline)
	}
	return nil
}

// SlotMountDir is where an install mounts the Pi's slot partitions.
const SlotMountDir = "/run/matthan/slot"

// Update implements control.Updater: it installs the bundle at path (the
// daemon saved the upload there, on the data partition) into the other
// slot, writing progress lines to w, and on success reboots into the new
// slot's trial. A refused bundle leaves both slots as they were.
func (in *Init) Update(path string, w io.Writer) error {
	if !strings.HasPrefix(filepath.Clean(path), DataDir+"/") {
		return fmt.Errorf("update: %s is not on the data partition", path)
	}
	in.updateMu.Lock()
	defer in.updateMu.Unlock()
	b, unmount, err := in.booter()
	defer unmount()
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if b == nil {
		return errors.New("update: this box did not boot from a slot (direct kernel boot)")
	}
	if pi, ok := b.(*slot.RPi); ok {
		undo, err := in.mountSlots(pi)
		defer undo()
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	online := 0
	if code, body, err := health.Get("127.0.0.1:"+in.adminPort(), "/api/health", 2*time.Second); err == nil && code == 200 {
		var h struct {
			CamerasOnline int `json:"camerasOnline"`
		}
		if json.Unmarshal(body, &h) == nil {
			online = h.CamerasOnline
		}
	}
	last := -1
	progress := func(n int64) {
		if pct := int(n * 100 / max(st.Size(), 1)); pct/5 != last/5 {
			last = pct
			fmt.Fprintf(w, "progress %d%%\n", pct)
		}
	}
	in.printf("update: installing %s (%d bytes)", path, st.Size())
	m, err := in.updater(b).Install(context.Background(), f, online, progress)
	if err != nil {
		in.printf("update: %v", err)
		return err
	}
	f.Close()
	os.Remove(path) // written into the slot: the copy on /data is not needed
	in.printf("update: %s (counter %d) written and armed; rebooting into its trial", m.Release.Version, m.Release.Counter)
	fmt.Fprintf(w, "installed %s counter %d: rebooting\n", m.Release.Version, m.Release.Counter)
	in.mu.Lock()
	in.rebootArg = b.RebootArg()
	in.mu.Unlock()
	go func() {
		time.Sleep(500 * time.Millisecond) // let the answer reach the client
		in.Shutdown(true)
	}()
	return nil
}

// RebootArg is the reboot argument an update asked for ("" for none).
func (in *Init) RebootArg() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rebootArg
}

func (in *Init) adminPort() string {
	if l := in.settings.Listen; l != "" {
		if _, p, err := net.SplitHostPort(l); err == nil {
			return p
		}
	}
	return AdminPort
}

// mountSlots checks and mounts the Pi's slot partitions (GPT names
// matthan-a, matthan-b) for an install.
func (in *Init) mountSlots(pi *slot.RPi) (func(), error) {
	var undo []func()
	done := func() {
		for _, u := range undo {
			u()
		}
	}
	pi.Slots = map[slot.Slot]string{}
	for s, label := range map[slot.Slot]string{slot.A: "matthan-a", slot.B: "matthan-b"} {
		dev, err := datapart.FindByLabel("/sys/class/block", label)
		if err != nil {
			return done, fmt.Errorf("slot partition %s: %w", label, err)
		}
		dir := filepath.Join(SlotMountDir, string(s))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return done, err
		}
		if err := in.mountFAT(dev, dir); err != nil {
			return done, fmt.Errorf("slot partition %s: %w", label, err)
		}
		undo = append(undo, func() { unix.Sync(); unix.Unmount(dir, 0) })
		pi.Slots[s] = dir
	}
	return done, nil
}
