// Command matthand is the Mắt Thần NVR daemon: it records the cameras,
// detects motion, serves the admin page over HTTPS (and /api/health plus a
// redirect over plain HTTP) and stops cleanly on SIGTERM or SIGINT
// (recorders flush, fsync and close). It starts with no cameras too: the
// technician adds them on the admin page. On first boot it prints the
// setup code and the certificate fingerprint on stderr (init forwards it
// to the serial console).
//
//	matthand -data DIR -listen 127.0.0.1:8080 [-listen-tls 127.0.0.1:8443] -camera cam1=rtsp://...[,rtsp://.../sub] [-camera ...]
//	matthand -config /etc/matthan.json
//
// Cameras must be on the camera network (private addresses); development
// and tests over simulated cameras on this host add -allow-loopback-cameras.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // the box has no zone database: any time_zone loads

	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/webadmin/box"
)

func main() {
	cfg, err := config.FromArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "matthand: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if os.Getenv("GOGC") == "" {
		// The heap is mostly long-lived buffers (a fragment per camera) and
		// little garbage: collecting at +25 % instead of +100 % costs little
		// CPU and keeps the resident size near the live heap.
		debug.SetGCPercent(25)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	stopProfiles := startProfiles(log)
	err = box.Run(ctx, cfg, log)
	stopProfiles()
	if err != nil {
		log.Error("matthand failed", "err", err)
		os.Exit(1)
	}
}

// startProfiles serves net/http/pprof on $MATTHAN_PPROF (an address on
// 127.0.0.1), for profiling the recorder benchmark.
func startProfiles(log *slog.Logger) func() {
	addr := os.Getenv("MATTHAN_PPROF")
	if addr == "" {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Error("pprof", "err", err)
		}
	}()
	return func() { srv.Close() }
}
