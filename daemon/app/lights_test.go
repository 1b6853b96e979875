package app

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/board"
)

func TestLightsWithoutGPIO(t *testing.T) {
	raw, err := board.Raw("qemu-virt")
	if err != nil {
		t.Fatal(err)
	}
	qemuBoard := filepath.Join(t.TempDir(), "board.json")
	if err := os.WriteFile(qemuBoard, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, file, want string }{
		{"no board file", "", "MATTHAN_BOARD not set"},
		{"missing board file", filepath.Join(t.TempDir(), "nope.json"), "board file"},
		// The host has no PL061: the lines do not open.
		{"board pins absent here", qemuBoard, "GPIO"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			lp := startLights(context.Background(), tt.file, slog.New(slog.NewTextHandler(&log, nil)))
			st := lp.page.LightsState()
			if lp.api != nil || st.Mode != "none" || !strings.Contains(st.Reason, NoGPIO) || !strings.Contains(st.Reason, tt.want) {
				t.Errorf("got %+v, api %v", st, lp.api != nil)
			}
			if !strings.Contains(log.String(), "no GPIO") {
				t.Errorf("no log line says so: %s", log.String())
			}
		})
	}
}

func TestInitLogLines(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "init.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if l, _ := bufio.NewReader(c).ReadString('\n'); l != "log\n" {
			fmt.Fprintf(c, "bad request %q\n", l)
			return
		}
		for i := 1; i <= 10; i++ {
			fmt.Fprintf(c, "matthand| line %d\n", i)
		}
	}()
	got := initLog{socket: sock}.LogLines(3)
	if strings.Join(got, ",") != "matthand| line 8,matthand| line 9,matthand| line 10" {
		t.Errorf("got %q", got)
	}
	if got := (initLog{}).LogLines(3); len(got) != 1 || !strings.Contains(got[0], "MATTHAN_INIT_SOCKET") {
		t.Errorf("without init: %q", got)
	}
	if got := (initLog{socket: sock + ".gone"}).LogLines(3); len(got) != 1 || !strings.Contains(got[0], "init log") {
		t.Errorf("socket gone: %q", got)
	}
}
