// Command matthan-bootbench measures the firmware under QEMU TCG and
// prints BENCH lines: time from QEMU start to the ready line and to the
// first recorded fragment, by direct kernel boot and under UEFI from the
// disk image, and the initramfs and image sizes.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/qemu"
	"github.com/matthan/matthan/image/build"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "matthan-bootbench:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "out", "output folder")
	flag.Parse()
	repo, _ := os.Getwd()
	absOut, _ := filepath.Abs(*out)
	work := filepath.Join(absOut, "qemu-virt-bench")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	camPort, err := qemu.FreePort()
	if err != nil {
		return err
	}
	cmdline := qemu.GuestCmdline(1, camPort)
	res, err := build.Build(ctx, build.Options{Board: "qemu-virt", Repo: repo, Out: work,
		Cache: filepath.Join(absOut, "cache"), Cmdline: cmdline})
	if err != nil {
		return err
	}
	cams, err := qemu.StartCameras(ctx, repo, work, filepath.Join(absOut, "clips"), 1, camPort)
	if err != nil {
		return err
	}
	defer cams.Stop()
	fmt.Printf("BENCH initramfs_bytes %d bytes\n", res.InitramfsBytes)
	fmt.Printf("BENCH image_bytes %d bytes\n", res.ImageBytes)

	direct := qemu.Options{Kernel: res.Kernel, Initrd: res.Initramfs, Cmdline: "console=ttyAMA0 quiet " + cmdline}
	if err := measure(ctx, "direct", direct); err != nil {
		return err
	}
	disk := filepath.Join(work, "bench-disk.img")
	if out, err := exec.Command("cp", "--sparse=always", res.Image, disk).CombinedOutput(); err != nil {
		return fmt.Errorf("copy disk: %v %s", err, out)
	}
	defer os.Remove(disk)
	return measure(ctx, "uefi", qemu.Options{Disk: disk})
}

var ready = regexp.MustCompile(`ready: admin`)

func measure(ctx context.Context, kind string, o qemu.Options) error {
	m, err := qemu.Start(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		m.PowerButton()
		if m.Wait(60*time.Second) != nil {
			m.Kill()
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	l, err := m.WaitLine(wctx, ready)
	if err != nil {
		return fmt.Errorf("%s boot: %w\n%s", kind, err, m.Console())
	}
	readyAt := l.At.Sub(m.Started)
	fmt.Printf("BENCH boot_to_ready_%s_s %.2f s\n", kind, readyAt.Seconds())
	// The API answers behind the admin page's login: first-boot setup
	// with the code from the console, then an officer session.
	var c *adminclient.Client
	for wctx.Err() == nil {
		console := m.Console()
		if c, err = adminclient.FirstBoot(wctx, m.AdminURL(""), adminclient.SetupCode(console), adminclient.Fingerprint(console)); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c == nil {
		return fmt.Errorf("%s boot: log in to the admin page: %v\n%s", kind, err, m.Console())
	}
	for wctx.Err() == nil {
		url := m.AdminURL("/api/daemon/segments?camera=cam1&from=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) +
			"&to=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		resp, err := c.Get(url)
		if err == nil {
			var segs []struct {
				Bytes int64 `json:"bytes"`
			}
			json.NewDecoder(resp.Body).Decode(&segs)
			resp.Body.Close()
			if len(segs) > 0 && segs[0].Bytes > 0 {
				at := time.Since(m.Started)
				fmt.Printf("BENCH boot_to_first_segment_%s_s %.2f s\n", kind, at.Seconds())
				fmt.Printf("BENCH ready_to_first_segment_%s_s %.2f s\n", kind, (at - readyAt).Seconds())
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s boot: no segment recorded within 3 min; console:\n%s", kind, m.Console())
}
