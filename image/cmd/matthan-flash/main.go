// Command matthan-flash writes the firmware image to a technician's SD
// card or disk (or a file), with a progress bar, and verifies it by reading
// it back. It refuses mounted disks, the running system's disk and swap.
//
//	matthan-flash -image out/rpi4/matthan.img -to /dev/sdX
//
// With -update it instead pushes a signed bundle to a running box over
// its admin page, as a technician (password from MATTHAN_PASSWORD or
// asked), shows the manifest, asks before installing, and follows the
// install's progress:
//
//	matthan-flash -update https://BOX:8443 -bundle out/rpi4/matthan.bundle -user tech -fingerprint SHA256
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/matthan/matthan/image/flash"
)

func main() {
	image := flag.String("image", "", "firmware image (out/BOARD/matthan.img)")
	to := flag.String("to", "", "target block device (/dev/sdX, /dev/mmcblkN) or file")
	noVerify := flag.Bool("no-verify", false, "do not read the target back")
	update := flag.String("update", "", "push a bundle to this box (https://HOST:8443) instead of writing an image")
	bundleFile := flag.String("bundle", "", "with -update: the signed bundle (out/BOARD/matthan.bundle)")
	user := flag.String("user", "", "with -update: the technician's user name")
	fp := flag.String("fingerprint", "", "with -update: the box's HTTPS certificate SHA-256 (system page)")
	insecure := flag.Bool("insecure-tls", false, "with -update: do not check the box's certificate")
	yes := flag.Bool("yes", false, "with -update: install without asking")
	flag.Parse()
	if *update != "" {
		if err := pushUpdate(*update, *bundleFile, *user, *fp, *insecure, *yes); err != nil {
			fmt.Fprintln(os.Stderr, "matthan-flash:", err)
			os.Exit(1)
		}
		return
	}
	if *image == "" || *to == "" {
		fmt.Fprintln(os.Stderr, "usage: matthan-flash -image out/BOARD/matthan.img -to /dev/sdX")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("Ghi / writing %s -> %s\n", *image, *to)
	res, err := flash.Write(ctx, *image, *to, flash.Options{Progress: os.Stdout, NoVerify: *noVerify})
	if err != nil {
		fmt.Fprintln(os.Stderr, "matthan-flash:", err)
		os.Exit(1)
	}
	verified := "not verified"
	if res.Verified {
		verified = "verified by reading back / đã kiểm tra"
	}
	fmt.Printf("Xong / done: %d bytes (%d written, zero blocks skipped) in %s, sha256 %s, %s\n",
		res.Bytes, res.Written, res.Took.Round(1e7), res.SHA256, verified)
}
