// Package pid1 is the box's init: it brings the system up stage by stage,
// printing one line per stage on the serial console, starts and
// supervises the daemon, and shuts the box down cleanly on SIGTERM, a
// reboot or power-off request on the control socket, Ctrl-Alt-Del, or the
// power button.
package pid1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/daemon/timesync"
	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/control"
	"github.com/matthan/matthan/init/cmdline"
	"github.com/matthan/matthan/init/logring"
	"github.com/matthan/matthan/init/supervise"
	"golang.org/x/sys/unix"
)

// Paths inside the initramfs, written by the image build.
const (
	DaemonPath  = "/bin/matthand"
	ShellPath   = "/bin/sh"
	SelfTest    = "/bin/matthan-selftest"
	ReleasePath = firmware.PathOnBox
	DataDir     = "/data"
	// AdminPort is the daemon's plain-HTTP port (health; redirects to
	// HTTPS); AdminTLSPort is the admin page itself (matthand's rule: 8443
	// for 8080). The box keeps unprivileged ports so that QEMU's user
	// network can forward them unchanged in tests and make run.
	AdminPort    = "8080"
	AdminTLSPort = "8443"
	// DaemonFileLimit is RLIMIT_NOFILE, soft and hard, for init and so
	// for the daemon (the kernel's default hard limit is 4096): the
	// daemon keeps a reserve for the recorder and caps web connections
	// in what is left (see daemon/storage/DESIGN.md).
	DaemonFileLimit = 65536
)

// Init is the running init.
type Init struct {
	Console io.Writer
	start   time.Time

	mu       sync.Mutex
	stages   []Stage
	data     DataStatus
	ring     *logring.Ring
	daemon   *supervise.Supervisor
	shutdown chan shutdownRequest

	board    *board.Board
	release  firmware.Release
	settings cmdline.Settings
	addr     netip.Prefix
	uplink   string
	// clockSource: how setClock set the clock (RTC or the build date).
	clockSource timesync.Source

	updateMu  sync.Mutex // one install at a time
	rebootArg string     // set by an install (the Pi's "0 tryboot")
}

// Stage is one step of the boot, as printed and reported.
type Stage struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Detail string  `json:"detail"`
	AtSec  float64 `json:"at_s"`
}

// DataStatus says where recordings go.
type DataStatus struct {
	Device    string `json:"device,omitempty"`
	Found     string `json:"found,omitempty"`
	Formatted bool   `json:"formatted"`
	Fsck      string `json:"fsck,omitempty"`
	RAM       bool   `json:"ram"`
	Mounted   bool   `json:"mounted"`
}

type shutdownRequest struct {
	reboot bool
	reason string
}

// New returns an init writing its lines to console.
func New(console io.Writer) *Init {
	return &Init{
		Console:  console,
		start:    time.Now(),
		ring:     logring.New(256 << 10),
		shutdown: make(chan shutdownRequest, 4),
	}
}

func (in *Init) elapsed() float64 { return time.Since(in.start).Seconds() }

// printf writes one line of init's own on the console.
func (in *Init) printf(format string, args ...any) {
	fmt.Fprintf(in.Console, "matthan: [%7.3f] "+format+"\n", append([]any{in.elapsed()}, args...)...)
}

// stage records and prints the outcome of one boot stage.
func (in *Init) stage(name string, err error, detail string, args ...any) {
	d := fmt.Sprintf(detail, args...)
	st := Stage{Name: name, OK: err == nil, Detail: d, AtSec: in.elapsed()}
	if err != nil {
		st.Detail = err.Error()
		if d != "" {
			st.Detail = d + ": " + err.Error()
		}
		in.printf("%-9s FAILED: %s", name, st.Detail)
	} else {
		in.printf("%-9s ok: %s", name, d)
	}
	in.mu.Lock()
	in.stages = append(in.stages, st)
	in.mu.Unlock()
}

// Run brings the box up and blocks until it is time to power off or
// reboot; it then shuts down and returns whether to reboot.
func (in *Init) Run() (reboot bool) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGUSR1, unix.SIGUSR2)
	// Ctrl-Alt-Del sends SIGINT to init instead of rebooting at once.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	in.stage("mount", mountBase(), "proc sys dev run tmp")
	in.stage("limits", raiseFileLimit(DaemonFileLimit), "descriptors %d (soft and hard), inherited by the daemon", DaemonFileLimit)
	in.loadConfig()
	in.loadModules()
	in.setClock()
	wd := in.startWatchdog(ctx)
	in.prepareData(ctx) // before the network: its setting may be on /data
	in.restoreClock()
	in.startNetwork(ctx)
	in.startCameraNetwork(ctx)
	go func() {
		if err := control.Serve(ctx, control.DefaultPath, in); err != nil {
			in.printf("control socket: %v", err)
		}
	}()
	in.startDaemon(ctx)
	in.startShell(ctx)
	go in.watchPowerKey(ctx)
	in.waitDaemon(ctx, 30*time.Second)

	in.printf("ready: admin https://%s:%s/%s (http://%s:%s/ redirects; board %s, data %s, boot %.1fs)",
		in.addr.Addr(), AdminTLSPort, in.byName(), in.addr.Addr(), AdminPort, in.boardName(), in.dataWhere(), in.elapsed())
	if in.settings.SelfTest {
		go in.runSelfTest(ctx)
	}
	go in.checkUpdate(ctx)

	var req shutdownRequest
	select {
	case s := <-sigs:
		switch s {
		case unix.SIGINT, unix.SIGUSR2:
			req = shutdownRequest{reboot: true, reason: "signal " + s.String()}
		default:
			req = shutdownRequest{reason: "signal " + s.String()}
		}
	case req = <-in.shutdown:
	}
	in.shutdownNow(ctx, wd, req)
	return req.reboot
}

// Shutdown implements control.Handler.
func (in *Init) Shutdown(reboot bool) {
	reason := "power-off requested"
	if reboot {
		reason = "reboot requested"
	}
	select {
	case in.shutdown <- shutdownRequest{reboot: reboot, reason: reason}:
	default:
	}
}

// Log implements control.Handler: the daemon's log ring.
func (in *Init) Log() []byte { return in.ring.Bytes() }

// Status implements control.Handler.
func (in *Init) Status() any {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := map[string]any{
		"board":             in.boardName(),
		"release":           in.release,
		"uptime_s":          in.elapsed(),
		"stages":            in.stages,
		"data":              in.data,
		"address":           in.addr.String(),
		"log_dropped_lines": in.ring.Dropped(),
	}
	if in.daemon != nil {
		st["daemon"] = in.daemon.Status()
	}
	return st
}

func (in *Init) boardName() string {
	if in.board == nil {
		return "unknown"
	}
	return in.board.Name
}

func (in *Init) dataWhere() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.data.RAM {
		return "RAM (tmpfs)"
	}
	return in.data.Device
}

func (in *Init) loadConfig() {
	var errs []error
	b, err := board.LoadFile(board.PathOnBox)
	if err != nil {
		errs = append(errs, err)
	} else {
		in.board = b
	}
	if rel, err := firmware.Load(ReleasePath); err == nil {
		in.release = rel
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	line, _ := os.ReadFile("/proc/cmdline")
	s, cerrs := cmdline.Parse(string(line))
	in.settings = s
	errs = append(errs, cerrs...)
	in.stage("config", errors.Join(errs...), "board %s, %d camera(s) on the command line", in.boardName(), len(s.Cameras))
}
