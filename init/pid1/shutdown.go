package pid1

import (
	"context"
	"time"

	"github.com/matthan/matthan/firmware/datapart"
	"github.com/u-root/u-root/pkg/watchdog"
	"golang.org/x/sys/unix"
)

// shutdownNow stops the daemon (SIGTERM, it flushes and closes its
// segments), unmounts the data partition and syncs. The caller then
// powers off or reboots.
func (in *Init) shutdownNow(ctx context.Context, wd *watchdog.Watchdog, req shutdownRequest) {
	what := "power-off"
	if req.reboot {
		what = "reboot"
	}
	in.printf("shutdown: %s (%s)", what, req.reason)
	if in.daemon != nil {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		clean := in.daemon.Stop(sctx)
		cancel()
		if clean {
			in.printf("shutdown: daemon stopped")
		} else {
			in.printf("shutdown: daemon had to be killed")
		}
	}
	in.saveClock()
	unix.Sync()
	in.mu.Lock()
	data := in.data
	in.mu.Unlock()
	if data.Mounted && !data.RAM {
		if err := datapart.Unmount(DataDir); err != nil {
			in.printf("shutdown: %v", err)
		} else {
			in.printf("shutdown: %s unmounted", DataDir)
		}
	}
	if wd != nil {
		if req.reboot {
			wd.KeepAlive() // let it run: it resets the box if reboot hangs
		} else if err := wd.MagicClose(); err != nil {
			in.printf("shutdown: watchdog: %v", err)
		}
	}
	unix.Sync()
	in.printf("shutdown: done, %s now", what)
}

// Halt powers off or reboots. It does not return.
func Halt(reboot bool) {
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	unix.Reboot(cmd)
	for {
		time.Sleep(time.Hour)
	}
}
