package pid1

import (
	"context"
	"time"
	"unsafe"

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
func Halt(reboot bool) { HaltWith(reboot, "") }

// HaltWith is Halt with a reboot argument (LINUX_REBOOT_CMD_RESTART2):
// the Pi's "0 tryboot" boots the [tryboot] slot once.
func HaltWith(reboot bool, arg string) {
	unix.Sync()
	switch {
	case reboot && arg != "":
		restart2(arg) // returns only on failure
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	case reboot:
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	default:
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// restart2 is reboot(2) with LINUX_REBOOT_CMD_RESTART2 and an argument
// (x/sys/unix exposes only the argument-less form).
func restart2(arg string) error {
	p, err := unix.BytePtrFromString(arg)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2,
		unix.LINUX_REBOOT_CMD_RESTART2, uintptr(unsafe.Pointer(p)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
