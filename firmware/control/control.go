// Package control is init's control socket, /run/matthan/init.sock: the
// daemon and the technician's matthanctl read the daemon's log ring and
// init's status through it, and ask for a reboot or power-off.
//
// Protocol: the client connects, writes one command line, and reads the
// answer until the server closes the connection.
//
//	log        the daemon's log ring, oldest line first (text)
//	status     init's status (JSON: stages, data partition, daemon)
//	reboot     clean reboot (answer "ok")
//	poweroff   clean power-off (answer "ok")
//	update P   install the firmware bundle at path P (on the data
//	           partition) into the other slot, then reboot into its
//	           trial: progress lines, then "ok" or "error: ..."
package control

import (
	"bufio"
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
)

// DefaultPath is where init listens.
const DefaultPath = "/run/matthan/init.sock"

// Handler answers the commands.
type Handler interface {
	Log() []byte
	Status() any
	// Shutdown asks for a clean power-off (reboot=false) or reboot.
	Shutdown(reboot bool)
}

// Updater is a Handler that installs firmware bundles.
type Updater interface {
	// Update installs the bundle at path, writing progress lines to w;
	// on success the box reboots into the new slot's trial.
	Update(path string, w io.Writer) error
}

// UpdateTimeout bounds one update command (decompressing and writing a
// slot takes about a minute under QEMU's emulation).
const UpdateTimeout = 10 * time.Minute

// Serve accepts connections on a unix socket at path until ctx ends.
func Serve(ctx context.Context, path string, h Handler) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	os.Chmod(path, 0o600)
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			continue
		}
		go handle(c, h)
	}
}

func handle(c net.Conn, h Handler) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	if err != nil && line == "" {
		return
	}
	cmd := strings.TrimSpace(line)
	if p, ok := strings.CutPrefix(cmd, "update "); ok {
		u, can := h.(Updater)
		if !can {
			io.WriteString(c, "error: this init installs no updates\n")
			return
		}
		c.SetDeadline(time.Now().Add(UpdateTimeout))
		if err := u.Update(strings.TrimSpace(p), c); err != nil {
			fmt.Fprintf(c, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			return
		}
		io.WriteString(c, "ok\n")
		return
	}
	switch cmd {
	case "log":
		c.Write(h.Log())
	case "status":
		enc := json.NewEncoder(c)
		enc.SetIndent("", "  ")
		enc.Encode(h.Status())
	case "reboot":
		io.WriteString(c, "ok\n")
		h.Shutdown(true)
	case "poweroff":
		io.WriteString(c, "ok\n")
		h.Shutdown(false)
	default:
		fmt.Fprintf(c, "error: unknown command %q (log, status, reboot, poweroff)\n", strings.TrimSpace(line))
	}
}

// Ask sends one command to init and returns the answer.
func Ask(path, command string) ([]byte, error) {
	return AskWithin(path, command, 15*time.Second)
}

// AskWithin is Ask with another time limit (an update takes minutes).
func AskWithin(path, command string, limit time.Duration) ([]byte, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect to init: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return nil, fmt.Errorf("send %q: %w", command, err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return b, fmt.Errorf("read answer to %q: %w", command, err)
	}
	if i := strings.LastIndex(string(b), "error: "); i >= 0 && (i == 0 || b[i-1] == '\n') {
		return b, errors.New(strings.TrimSpace(string(b[i:])))
	}
	return b, nil
}

// CtlMain is the matthanctl command: args without the program name; it
// returns the exit status.
func CtlMain(args []string, stdout, stderr io.Writer) int {
	sock := DefaultPath
	if len(args) == 3 && args[0] == "-socket" {
		sock, args = args[1], args[2:]
	}
	if len(args) == 2 && args[0] == "update" {
		args = []string{"update " + args[1]}
	}
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: matthanctl [-socket PATH] log|status|reboot|poweroff|update BUNDLE")
		return 2
	}
	out, err := AskWithin(sock, args[0], UpdateTimeout+time.Minute)
	stdout.Write(out)
	if err != nil {
		fmt.Fprintln(stderr, "matthanctl:", err)
		return 1
	}
	return 0
}

// AskLines sends one command and hands each answer line to line as it
// arrives (an update's progress); an "error: ..." line is returned as
// the error.
func AskLines(path, command string, limit time.Duration, line func(string)) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connect to init: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return fmt.Errorf("send %q: %w", command, err)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), 64<<10)
	var fail error
	for sc.Scan() {
		l := sc.Text()
		if msg, ok := strings.CutPrefix(l, "error: "); ok {
			fail = errors.New(msg)
			continue
		}
		line(l)
	}
	if fail != nil {
		return fail
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read answer to %q: %w", command, err)
	}
	return nil
}
