package control

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeInit struct{ shut chan bool }

func (f *fakeInit) Log() []byte     { return []byte("line 1\nline 2\n") }
func (f *fakeInit) Status() any     { return map[string]int{"starts": 2} }
func (f *fakeInit) Shutdown(r bool) { f.shut <- r }

func TestControl(t *testing.T) {
	path := filepath.Join(t.TempDir(), "init.sock")
	h := &fakeInit{shut: make(chan bool, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, path, h)
	var err error
	for i := 0; i < 100; i++ {
		if _, err = Ask(path, "log"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tt := range []struct {
		cmd, want string
		fails     bool
	}{
		{"log", "line 1\nline 2\n", false},
		{"status", `"starts": 2`, false},
		{"bogus", "unknown command", true},
		{"reboot", "ok", false},
	} {
		got, err := Ask(path, tt.cmd)
		if (err != nil) != tt.fails {
			t.Errorf("Ask(%q) err = %v", tt.cmd, err)
		}
		if !strings.Contains(string(got), tt.want) {
			t.Errorf("Ask(%q) = %q, want %q in it", tt.cmd, got, tt.want)
		}
	}
	select {
	case r := <-h.shut:
		if !r {
			t.Error("reboot asked for power-off")
		}
	case <-time.After(2 * time.Second):
		t.Error("reboot did not reach the handler")
	}
}

type fakeUpdater struct {
	fakeInit
	got string
}

func (f *fakeUpdater) Update(path string, w io.Writer) error {
	f.got = path
	io.WriteString(w, "writing 50%\n")
	if path == "/data/update/bad.bundle" {
		return errors.New("Gói cập nhật không có chữ ký / unsigned")
	}
	return nil
}

func TestControlUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "init.sock")
	h := &fakeUpdater{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, path, h)
	var out []byte
	var err error
	for i := 0; i < 100; i++ {
		if out, err = Ask(path, "update /data/update/x.bundle"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || !strings.HasSuffix(string(out), "writing 50%\nok\n") || h.got != "/data/update/x.bundle" {
		t.Fatalf("update: %q %v (path %q)", out, err, h.got)
	}
	var lines []string
	if err := AskLines(path, "update /data/update/x.bundle", time.Minute, func(l string) { lines = append(lines, l) }); err != nil || strings.Join(lines, "|") != "writing 50%|ok" {
		t.Fatalf("AskLines: %q %v", lines, err)
	}
	if err := AskLines(path, "update /data/update/bad.bundle", time.Minute, func(string) {}); err == nil || !strings.Contains(err.Error(), "chữ ký") {
		t.Fatalf("AskLines of a refused update: %v", err)
	}
	if _, err := Ask(path, "update /data/update/bad.bundle"); err == nil || !strings.Contains(err.Error(), "chữ ký") {
		t.Fatalf("refused update: %v, want the refusal", err)
	}
	// An init without updates says so.
	path2 := filepath.Join(t.TempDir(), "init2.sock")
	go Serve(ctx, path2, &fakeInit{shut: make(chan bool, 1)})
	for i := 0; i < 100; i++ {
		if _, err = Ask(path2, "log"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := Ask(path2, "update /x"); err == nil {
		t.Fatal("an init without updates accepted one")
	}
}
