package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/lights"
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
			lp := startLights(context.Background(), tt.file, events.Discard, slog.New(slog.NewTextHandler(&log, nil)))
			if lp.IR != nil || !strings.Contains(lp.NoGPIOReason, lights.NoGPIO) || !strings.Contains(lp.NoGPIOReason, tt.want) {
				t.Errorf("got %+v", lp)
			}
			if !strings.Contains(log.String(), "no GPIO") {
				t.Errorf("no log line says so: %s", log.String())
			}
		})
	}
}
