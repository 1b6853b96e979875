// Command scenegen makes the motion detector's labelled scenes with ffmpeg
// into a folder (default out/scenes): NAME.h264 clips and NAME.json truth.
//
//	scenegen [-out DIR] [-sizes 640x360,1280x720] [-only SUBSTRING] [-pair]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"

	"github.com/matthan/matthan/daemon/motion/internal/scenes"
)

func main() {
	out := flag.String("out", "out/scenes", "output folder")
	sizes := flag.String("sizes", "640x360,1280x720", "picture sizes, comma-separated WxH")
	only := flag.String("only", "", "make only scenes whose name contains this")
	pair := flag.Bool("pair", false, "also make the 1080p main + 360p sub pair")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *pair {
		m, s := scenes.Pair()
		for _, sc := range []scenes.Scene{s, m} {
			if err := scenes.Generate(ctx, *out, sc); err != nil {
				log.Fatal(err)
			}
			fmt.Println(sc.Name)
		}
	}
	for _, sz := range strings.Split(*sizes, ",") {
		var w, h int
		if _, err := fmt.Sscanf(sz, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 {
			log.Fatalf("scenegen: size %q is not WxH", sz)
		}
		for _, s := range scenes.All(w, h) {
			if *only != "" && !strings.Contains(s.Name, *only) {
				continue
			}
			if err := scenes.Generate(ctx, *out, s); err != nil {
				log.Fatal(err)
			}
			fmt.Println(s.Name)
		}
	}
}
