package pid1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/firmware/control"
	"github.com/matthan/matthan/firmware/health"
	"github.com/matthan/matthan/init/logring"
	"github.com/matthan/matthan/init/powerkey"
	"github.com/matthan/matthan/init/supervise"
)

// prefixWriter writes each line to out with a prefix (a line cut at
// logring.MaxLine); safe for concurrent use (stdout and stderr of one
// program share it).
type prefixWriter struct {
	mu     sync.Mutex
	prefix []byte
	out    io.Writer
	lines  logring.Lines
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lines.Line == nil {
		p.lines.Line = func(line []byte) {
			p.buf = append(append(append(p.buf[:0], p.prefix...), line...), '\n')
			p.out.Write(p.buf)
		}
	}
	return p.lines.Write(b)
}

// daemonArgs are matthand's flags: cameras from the kernel command line,
// or the config file on the data partition.
func (in *Init) daemonArgs() []string {
	args := []string{"-data", DataDir, "-listen", ":" + AdminPort}
	if in.settings.Listen != "" {
		args[3] = in.settings.Listen
	}
	if in.board != nil && in.board.CameraNetwork != nil {
		args = append(args, "-camera-if", in.board.CameraNetwork.Interface)
	}
	// On the box the daemon drives the system clock (daemon/timesync).
	args = append(args, "-set-clock")
	if in.settings.NTP != "" {
		args = append(args, "-ntp", in.settings.NTP)
	}
	for _, c := range in.settings.Cameras {
		args = append(args, "-camera", c.Flag())
	}
	if len(in.settings.Cameras) == 0 {
		if _, err := os.Stat(filepath.Join(DataDir, "matthan.json")); err == nil {
			args = append(args, "-config", filepath.Join(DataDir, "matthan.json"))
		}
	}
	return args
}

// startDaemon starts matthand under supervision; its output goes to the
// log ring and, prefixed "matthand| ", to the console.
func (in *Init) startDaemon(ctx context.Context) {
	if in.settings.NoDaemon {
		in.stage("daemon", errors.New("not started (matthan.test.nodaemon)"), "tests")
		return
	}
	if _, err := os.Stat(DaemonPath); err != nil {
		in.stage("daemon", err, "%s missing from the image", DaemonPath)
		return
	}
	out := io.MultiWriter(in.ring, &prefixWriter{prefix: []byte("matthand| "), out: in.Console})
	env := append(os.Environ(),
		"MATTHAN_BOARD="+board.PathOnBox,
		"MATTHAN_INIT_SOCKET="+control.DefaultPath,
	)
	in.daemon = &supervise.Supervisor{
		Name: "matthand",
		Command: func() *exec.Cmd {
			cmd := exec.Command(DaemonPath, in.daemonArgs()...)
			cmd.Env = env
			cmd.Dir = DataDir
			return cmd
		},
		Output: out,
	}
	go in.daemon.Run(ctx)
	in.stage("daemon", nil, "%s supervised (log: matthanctl log, or %s)", DaemonPath, control.DefaultPath)
}

// waitDaemon waits until the daemon answers GET /api/health, so the
// ready line means the admin page answers.
func (in *Init) waitDaemon(ctx context.Context, limit time.Duration) {
	if in.daemon == nil {
		return
	}
	port := AdminPort
	if l := in.settings.Listen; l != "" {
		if _, p, err := net.SplitHostPort(l); err == nil {
			port = p
		}
	}
	addr := "127.0.0.1:" + port
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if code, err := health.Check(addr, "/api/health", time.Second); err == nil && code == 200 {
			in.stage("api", nil, "daemon answers on port %s", port)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	in.stage("api", fmt.Errorf("no answer on %s/api/health after %s", addr, limit), "daemon")
}

// startShell gives a debug image a shell on the serial console.
func (in *Init) startShell(ctx context.Context) {
	if _, err := os.Stat(ShellPath); err != nil {
		return // production image: no shell
	}
	console := "/dev/console"
	if in.board != nil {
		console = "/dev/" + in.board.Console
	}
	sh := &supervise.Supervisor{
		Name: "shell",
		Command: func() *exec.Cmd {
			cmd := exec.Command(ShellPath)
			if tty, err := os.OpenFile(console, os.O_RDWR, 0); err == nil {
				cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
				cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			}
			cmd.Env = append(os.Environ(), "PATH=/bbin:/bin:/sbin", "HOME=/tmp", "PS1=matthan# ")
			return cmd
		},
		Output: in.Console,
	}
	go sh.Run(ctx)
	in.stage("shell", nil, "debug image: shell on %s", console)
}

func (in *Init) watchPowerKey(ctx context.Context) {
	powerkey.Watch(ctx, func() {
		select {
		case in.shutdown <- shutdownRequest{reason: "power button"}:
		default:
		}
	}, in.printf)
}

// runSelfTest runs the technician self-test once and prints its verdict.
func (in *Init) runSelfTest(ctx context.Context) {
	if _, err := os.Stat(SelfTest); err != nil {
		in.printf("selftest: %s missing from the image", SelfTest)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, SelfTest, "-board", board.PathOnBox)
	cmd.Stdout = &prefixWriter{prefix: []byte("selftest| "), out: in.Console}
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	if err != nil {
		in.printf("selftest: FAILED: %v", err)
		return
	}
	in.printf("selftest: PASSED")
}
