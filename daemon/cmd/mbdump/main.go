// Command mbdump prints the macroblock types of every picture of an H.264
// stream (Annex-B .h264/.264 file or MP4) in the layout of ffmpeg's
// `-debug mb_type` output, pictures in display order, so that the two can
// be diffed:
//
//	mbdump clip.h264
//	ffmpeg -threads 1 -debug mb_type -i clip.h264 -f null - 2>&1 | sed -n 's/^\[h264 @ [^]]*\] //p'
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/matthan/matthan/daemon/mbdump"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: mbdump FILE.h264|FILE.mp4\n")
		flag.PrintDefaults()
	}
	mv := flag.Bool("mv", false, "also print each picture's list-0 motion vectors (quarter pixels)")
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	errs, err := mbdump.DumpFile(flag.Arg(0), w, os.Stderr, *mv)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mbdump: %v\n", err)
		os.Exit(1)
	}
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "mbdump: %d pictures did not parse\n", errs)
		os.Exit(1)
	}
}
