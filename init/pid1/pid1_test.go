package pid1

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/matthan/matthan/init/cmdline"
	"github.com/matthan/matthan/init/logring"
)

func TestDaemonArgs(t *testing.T) {
	for _, tt := range []struct {
		line string
		want string
	}{
		{"console=ttyAMA0", "-data /data -listen :8080 -set-clock"},
		{"matthan.camera=cam1=rtsp://10.0.2.2:8554/cam1 matthan.camera=cam2=rtsp://h/2 matthan.listen=:9000",
			"-data /data -listen :9000 -set-clock -camera cam1=rtsp://10.0.2.2:8554/cam1 -camera cam2=rtsp://h/2"},
		{"matthan.ntp=10.0.2.2:40123", "-data /data -listen :8080 -set-clock -ntp 10.0.2.2:40123"},
	} {
		s, _ := cmdline.Parse(tt.line)
		in := &Init{settings: s}
		if got := strings.Join(in.daemonArgs(), " "); got != tt.want {
			t.Errorf("daemonArgs(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

// TestPrefixWriterBoundsALine: a program that writes without ever ending
// its line does not grow PID 1's memory: the line is cut at
// logring.MaxLine and goes out prefixed.
func TestPrefixWriterBoundsALine(t *testing.T) {
	var out bytes.Buffer
	w := &prefixWriter{prefix: []byte("matthand| "), out: &out}
	chunk := bytes.Repeat([]byte("z"), 1000)
	for range 100 {
		w.Write(chunk)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) < 10 {
		t.Fatalf("%d lines out of 100 kB without a newline, want the cut lines", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "matthand| z") || len(l) > len("matthand| ")+logring.MaxLine {
			t.Fatalf("line %.40q... of %d bytes", l, len(l))
		}
	}
}

func TestPrefixWriterWholeLines(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := &prefixWriter{prefix: []byte("matthand| "), out: lockedWriter{&mu, &out}}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				fmt.Fprintf(w, "goroutine %d ", g)
				fmt.Fprintf(w, "line %d\n", i)
			}
		}(g)
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "matthand| ") {
			t.Fatalf("line without prefix: %q", l)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestStageLines(t *testing.T) {
	var out bytes.Buffer
	in := New(&out)
	in.stage("network", nil, "eth0 %s (static)", "10.0.2.15/24")
	in.stage("data", fmt.Errorf("mke2fs: exit status 1"), "/dev/vda2")
	got := out.String()
	for _, want := range []string{"network   ok: eth0 10.0.2.15/24 (static)", "data      FAILED: /dev/vda2: mke2fs: exit status 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("console lacks %q:\n%s", want, got)
		}
	}
	st := in.Status().(map[string]any)
	if stages := st["stages"].([]Stage); len(stages) != 2 || stages[1].OK {
		t.Errorf("status stages = %+v", stages)
	}
}

// TestRaiseFileLimit: the limit init sets is what a program it starts
// gets, soft and hard. (Raising a hard limit needs CAP_SYS_RESOURCE, which
// PID 1 has; without it the test sets one below the hard limit, which
// checks the same inheritance.)
func TestRaiseFileLimit(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	want := old.Max + 1000
	err := raiseFileLimit(want)
	if errors.Is(err, syscall.EPERM) {
		want = old.Max - 7
		t.Logf("no CAP_SYS_RESOURCE: setting %d (below the hard limit %d) instead", want, old.Max)
		err = raiseFileLimit(want)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/sh", "-c", "ulimit -Sn; ulimit -Hn").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, exp := strings.Fields(string(out)), []string{strconv.FormatUint(want, 10), strconv.FormatUint(want, 10)}; strings.Join(got, " ") != strings.Join(exp, " ") {
		t.Fatalf("child's soft and hard limits %v, want %v", got, exp)
	}
}
