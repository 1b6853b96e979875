// Command matthan-run is `make run`: it builds the qemu-virt firmware,
// starts 4 simulated cameras, boots the disk image under UEFI in QEMU and
// prints the admin address on 127.0.0.1. Ctrl-C presses the virtual
// power button: the box shuts down cleanly (daemon flushes, data
// partition unmounted) and QEMU exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/matthan/matthan/hwtest/adminclient"
	"github.com/matthan/matthan/hwtest/qemu"
	"github.com/matthan/matthan/image/build"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "matthan-run:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "out", "output folder")
	port := flag.Int("port", 8080, "plain-HTTP port on 127.0.0.1 (health; redirects to HTTPS)")
	tlsPort := flag.Int("tls-port", 8443, "HTTPS admin page port on 127.0.0.1")
	camPort := flag.Int("camera-port", 8554, "camera simulator RTSP port on 127.0.0.1")
	direct := flag.Bool("direct", false, "direct kernel boot (faster) instead of UEFI from the disk image")
	debug := flag.Bool("debug", false, "debug image (shell on the console)")
	flag.Parse()
	repo, _ := os.Getwd()
	absOut, _ := filepath.Abs(*out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cmdline := qemu.GuestCmdlineWithSub(4, *camPort)
	fmt.Println("Đang dựng firmware / building the qemu-virt firmware ...")
	res, err := build.Build(ctx, build.Options{Board: "qemu-virt", Repo: repo, Out: filepath.Join(absOut, "qemu-virt-run"),
		Cache: filepath.Join(absOut, "cache"), Cmdline: cmdline, Debug: *debug, Log: os.Stderr})
	if err != nil {
		return err
	}
	cams, err := qemu.StartCameras(ctx, repo, filepath.Join(absOut, "qemu-virt-run"), filepath.Join(absOut, "clips"), 4, *camPort)
	if err != nil {
		return err
	}
	defer cams.Stop()
	fmt.Printf("4 camera giả lập / simulated cameras: rtsp://%s/cam1..cam4\n", cams.RTSP)

	o := qemu.Options{Disk: res.Image, HostPort: *port, TLSHostPort: *tlsPort, Console: os.Stdout}
	if *direct {
		o = qemu.Options{Kernel: res.Kernel, Initrd: res.Initramfs, Disk: res.Image, HostPort: *port, TLSHostPort: *tlsPort, Console: os.Stdout,
			Cmdline: "console=ttyAMA0 quiet " + cmdline}
	}
	m, err := qemu.Start(ctx, o)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, err := m.WaitLine(ctx, regexp.MustCompile(`ready: admin`)); err == nil {
			console := m.Console()
			fmt.Printf("\n==> Trang quản trị / admin page: %s (HTTP %s redirects there)\n", m.AdminURL("/"), m.URL("/"))
			if fp := adminclient.Fingerprint(console); fp != "" {
				fmt.Printf("==> Chứng chỉ / certificate SHA-256: %s (self-signed: the browser warns once)\n", fp)
			}
			if code := adminclient.SetupCode(console); code != "" {
				fmt.Printf("==> Đăng nhập lần đầu / first login: open the page, enter the setup code %s and create the technician account\n", code)
			} else {
				fmt.Println("==> Đăng nhập / log in: with the accounts made at the first boot (this disk was set up before)")
			}
			fmt.Printf("==> Health: curl %s\n", m.URL("/api/health"))
			fmt.Println("==> Ctrl-C: tắt máy sạch / clean shutdown (power button)")
		}
	}()
	select {
	case <-sigs:
		fmt.Println("\nmatthan-run: pressing the power button (system_powerdown) ...")
		if err := m.PowerButton(); err != nil {
			return err
		}
		first := time.Now()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case <-m.Exited():
				fmt.Println("matthan-run: the box powered off cleanly")
				return nil
			case <-sigs:
				if time.Since(first) < 2*time.Second {
					continue // the same Ctrl-C, relayed by make or go run
				}
				fmt.Println("matthan-run: second Ctrl-C: cutting the power")
				m.Kill()
				return nil
			case <-deadline:
				m.Kill()
				return fmt.Errorf("the box did not power off within 60 s")
			}
		}
	case <-m.Exited():
		return fmt.Errorf("QEMU exited: %v", m.ExitErr())
	}
}
