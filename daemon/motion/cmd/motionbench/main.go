// Command motionbench prints the motion detectors' accuracy per scene
// family and their CPU cost per camera as BENCH lines (make bench).
//
//	motionbench [-scenes out/scenes] [-motion-daemon] [-cost] [-mixed] [-pipeline] [-only NAME] [-v]
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"

	"github.com/matthan/matthan/daemon/motion/internal/motionbench"
)

func main() {
	var o motionbench.Options
	flag.StringVar(&o.ScenesDir, "scenes", "out/scenes", "folder of scenes made by scenegen")
	flag.BoolVar(&o.MotionDaemon, "motion-daemon", false, "also run the Motion daemon on the scenes over RTSP")
	flag.BoolVar(&o.Cost, "cost", false, "measure CPU per camera at 360p25 and 1080p25 (with -motion-daemon: Motion's too)")
	flag.BoolVar(&o.Mixed, "mixed", false, "measure the mixed recording mode's bytes per day against continuous (10 events an hour)")
	flag.BoolVar(&o.Pipeline, "pipeline", false, "measure only pipeline_cpu_per_camera (1080p main recorded, 360p sub analysed) against record-only")
	flag.StringVar(&o.Only, "only", "", "only scenes whose name contains this")
	flag.BoolVar(&o.Verbose, "v", false, "print every scene's events")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatalf("motionbench: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("motionbench: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o.Out = os.Stdout
	if err := motionbench.Run(ctx, o); err != nil {
		pprof.StopCPUProfile()
		log.Fatalf("motionbench: %v", err)
	}
}
