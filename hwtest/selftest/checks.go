package selftest

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/firmware/health"
	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
)

// DebugGPIO is the kernel's GPIO listing (debugfs, mounted by init).
const DebugGPIO = "/sys/kernel/debug/gpio"

// GPIO drives each output of the pin map high then low through periph.io
// and checks the level through periph.io and the kernel's listing; it
// reads the inputs; and it checks the reserved lines are left alone.
func GPIO(b *board.Board) []Result {
	var out []Result
	kernel := func() (map[int]KernelLine, error) {
		raw, err := os.ReadFile(DebugGPIO)
		if err != nil {
			return nil, err
		}
		return ParseDebugGPIO(bytes.NewReader(raw), b.GPIO.Chip)
	}
	for _, o := range []struct {
		name string
		line int
	}{{"ir_led", b.GPIO.IRLED}, {"status_led", b.GPIO.StatusLED}} {
		name := fmt.Sprintf("gpio %s (line %d)", o.name, o.line)
		pin, err := board.OpenPin(b.GPIO.Pin(o.line))
		if err != nil {
			out = append(out, Result{name, false, err.Error()})
			continue
		}
		var steps []string
		ok := true
		for _, level := range []gpio.Level{gpio.High, gpio.Low} {
			if err := pin.Out(level); err != nil {
				ok = false
				steps = append(steps, fmt.Sprintf("drive %v: %v", level, err))
				break
			}
			got := pin.Read()
			k, kerr := kernel()
			kl, present := k[o.line]
			switch {
			case got != level:
				ok = false
				steps = append(steps, fmt.Sprintf("drove %v, periph read %v", level, got))
			case kerr != nil:
				ok = false
				steps = append(steps, fmt.Sprintf("kernel view: %v", kerr))
			case !present || kl.High != bool(level):
				ok = false
				steps = append(steps, fmt.Sprintf("drove %v, kernel shows %+v", level, kl))
			default:
				steps = append(steps, fmt.Sprintf("drove %v: periph %v, kernel %s", level, got, hilo(kl.High)))
			}
		}
		pin.Halt()
		out = append(out, Result{name, ok, joinSteps(steps)})
	}
	for _, in := range []struct {
		name string
		line int
	}{{"light_sensor", b.GPIO.LightSensor}, {"pairing_button", b.GPIO.PairingButton}} {
		name := fmt.Sprintf("gpio %s (line %d)", in.name, in.line)
		pin, err := board.OpenPin(b.GPIO.Pin(in.line))
		if err != nil {
			out = append(out, Result{name, false, err.Error()})
			continue
		}
		if err := pin.In(gpio.PullNoChange, gpio.NoEdge); err != nil {
			out = append(out, Result{name, false, fmt.Sprintf("as input: %v", err)})
			continue
		}
		out = append(out, Result{name, true, fmt.Sprintf("input reads %v", pin.Read())})
		pin.Halt()
	}
	if k, err := kernel(); err == nil {
		for _, r := range b.GPIO.Reserved {
			kl := k[r]
			out = append(out, Result{fmt.Sprintf("gpio reserved (line %d)", r), !kl.Output,
				fmt.Sprintf("held by %q as input, not driven", kl.Consumer)})
		}
	}
	return out
}

func hilo(h bool) string {
	if h {
		return "hi"
	}
	return "lo"
}

func joinSteps(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// Data checks that /data is a mounted, writable file system.
func Data(dir string) Result {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Result{"data partition", false, err.Error()}
	}
	probe := dir + "/.selftest"
	if err := os.WriteFile(probe, []byte("ok"), 0o600); err != nil {
		return Result{"data partition", false, fmt.Sprintf("not writable: %v", err)}
	}
	os.Remove(probe)
	kind := "ext4"
	if st.Type == unix.TMPFS_MAGIC {
		kind = "RAM (tmpfs): no data partition"
	}
	free := st.Bavail * uint64(st.Bsize) >> 20
	return Result{"data partition", true, fmt.Sprintf("%s, %d MiB free, writable", kind, free)}
}

// API checks the daemon answers GET /api/health on addr (host:port).
func API(addr string) Result {
	code, err := health.Check(addr, "/api/health", 3*time.Second)
	if err != nil {
		return Result{"daemon api", false, err.Error()}
	}
	return Result{"daemon api", code == 200, fmt.Sprintf("GET http://%s/api/health: %d", addr, code)}
}

// Exists checks a device node (RTC, watchdog) is present.
func Exists(name, path string) Result {
	if _, err := os.Stat(path); err != nil {
		return Result{name, false, err.Error()}
	}
	return Result{name, true, path + " present"}
}

// BoxKey prints the fingerprint of the box key that signs evidence exports
// (the daemon makes it at its first start), for the handover record: an
// investigator checks exports against it with matthan-verify.
func BoxKey(dataDir string) Result {
	fp, err := evidence.BoxFingerprint(dataDir)
	if err != nil {
		return Result{"evidence key", false, fmt.Sprintf("%v (the daemon makes it at its first start)", err)}
	}
	return Result{"evidence key", true, "vân tay / fingerprint " + fp}
}
