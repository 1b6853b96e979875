// Command matthan-run is `make run`: it builds the qemu-virt firmware,
// starts 4 simulated cameras (with their fault API, so that a camera can be
// unplugged), boots the firmware under UEFI in QEMU and prints the admin
// address on 127.0.0.1. Ctrl-C presses the virtual power button: the box
// shuts down cleanly (daemon flushes, data partition unmounted), QEMU exits
// and so does matthan-run, with status 0.
//
// The box's disk is kept in OUT/run/disk.img across runs (a sparse 16 GiB
// file; the box grows its data partition to fill it at the first boot):
// the setup, the certificate, the accounts and the recordings stay. Each
// run writes the new firmware over the disk's boot partition only. -fresh
// (make run FRESH=1) starts over with a blank disk.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
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

// readyLine is printed once the admin page answers (tests wait for it).
const readyLine = "==> Trang quản trị / admin page:"

func run() error {
	out := flag.String("out", "out", "output folder")
	port := flag.Int("port", 8080, "plain-HTTP port on 127.0.0.1 (health; redirects to HTTPS)")
	tlsPort := flag.Int("tls-port", 8443, "HTTPS admin page port on 127.0.0.1")
	camPort := flag.Int("camera-port", 8554, "camera simulator RTSP port on 127.0.0.1")
	control := flag.String("camera-control", "127.0.0.1:8555", "camera simulator fault API address (empty: off)")
	direct := flag.Bool("direct", false, "direct kernel boot (faster) instead of UEFI from the disk image")
	debug := flag.Bool("debug", false, "debug image (shell on the console)")
	fresh := flag.Bool("fresh", false, "start over with a blank disk (new setup code, certificate, accounts, no recordings)")
	diskGiB := flag.Int64("disk-gib", 16, "size of the box's disk file (sparse) when it is made")
	flag.Parse()
	repo, _ := os.Getwd()
	absOut, _ := filepath.Abs(*out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// From here a Ctrl-C waits for the box (QEMU and the cameras have
	// their own process groups: the terminal's Ctrl-C reaches only us).
	defer takeTerminal()()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)

	cmdline := qemu.GuestCmdlineWithSub(4, *camPort)
	fmt.Println("Đang dựng firmware / building the qemu-virt firmware ...")
	// A Ctrl-C while building stops the build (nothing runs yet).
	buildCtx, stopBuild := context.WithCancel(ctx)
	built := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			stopBuild()
		case <-built:
		}
	}()
	// The box trusts the test update key when there is one (make
	// test-key), so that `make bundle` bundles install on it.
	keys := filepath.Join(absOut, "keys", "test.pub")
	if _, err := os.Stat(keys); err != nil {
		keys = ""
	}
	res, err := build.Build(buildCtx, build.Options{Board: "qemu-virt", Repo: repo, Out: filepath.Join(absOut, "qemu-virt-run"),
		Cache: filepath.Join(absOut, "cache"), Cmdline: cmdline, Debug: *debug, Log: os.Stderr, UpdateKeys: keys})
	close(built)
	if buildCtx.Err() != nil {
		fmt.Println("\nmatthan-run: stopped while building")
		return nil
	}
	stopBuild()
	if err != nil {
		return err
	}
	disk := filepath.Join(absOut, "run", "disk.img")
	kept, err := prepareDisk(res.Image, disk, *diskGiB<<30, *fresh)
	if err != nil {
		return err
	}
	if kept {
		fmt.Printf("Ổ đĩa giữ lại / kept disk: %s (new firmware, same data; make run FRESH=1 starts over)\n", disk)
	} else {
		fmt.Printf("Ổ đĩa mới / new disk: %s (%d GiB sparse; kept across runs, make run FRESH=1 starts over)\n", disk, *diskGiB)
	}
	cams, err := qemu.StartCamerasControl(ctx, repo, filepath.Join(absOut, "qemu-virt-run"), filepath.Join(absOut, "clips"), 4, *camPort, *control)
	if err != nil {
		return err
	}
	defer cams.Stop()
	fmt.Printf("4 camera giả lập / simulated cameras: rtsp://%s/cam1..cam4\n", cams.RTSP)

	o := qemu.Options{Disk: disk, HostPort: *port, TLSHostPort: *tlsPort, Console: os.Stdout}
	if *direct {
		o = qemu.Options{Kernel: res.Kernel, Initrd: res.Initramfs, Disk: disk, HostPort: *port, TLSHostPort: *tlsPort, Console: os.Stdout,
			Cmdline: "console=ttyAMA0 quiet " + cmdline}
	}
	// The camera network (the box's eth1): simulated cameras that ask
	// the box for an address and wait to be paired (root only).
	lan, lanErr := qemu.NewCameraLAN("cnet-run")
	if lanErr == nil {
		defer lan.Stop()
		o.CameraNetdev, o.Files = lan.Netdev, lan.Files
	} else {
		fmt.Printf("Mạng camera / camera network: trống / empty (%v); the 4 simulated cameras above reach the box over QEMU's user network instead (as root, make run also plugs 4 cameras into the box's camera network for pairing)\n", lanErr)
	}
	m, err := qemu.Start(ctx, o)
	if err != nil {
		return err
	}
	go func() {
		if _, err := m.WaitLine(ctx, regexp.MustCompile(`ready: admin`)); err == nil {
			// init says ready before the daemon's own lines (the setup
			// code among them) have reached the console: wait for them.
			wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
			m.WaitLine(wctx, regexp.MustCompile(`msg="matthand ready"`))
			wcancel()
			// And through QEMU's forwarded port: a slow box (a loaded
			// host) may print its lines before its page answers there.
			if err := waitHealth(ctx, m.URL("/api/health"), time.Minute); err != nil {
				fmt.Printf("matthan-run: the box's page does not answer yet (%v)\n", err)
			}
			console := m.Console()
			fmt.Printf("\n%s %s (HTTP %s redirects there)\n", readyLine, m.AdminURL("/"), m.URL("/"))
			if fp := adminclient.Fingerprint(console); fp != "" {
				fmt.Printf("==> Chứng chỉ / certificate SHA-256: %s (self-signed: the browser warns once)\n", fp)
			}
			if code := adminclient.SetupCode(console); code != "" {
				fmt.Printf("==> Đăng nhập lần đầu / first login: open the page, enter the setup code %s and create the technician account\n", code)
			} else {
				fmt.Println("==> Đăng nhập / log in: with the accounts made before (this disk was set up before; make run FRESH=1 starts over)")
			}
			fmt.Printf("==> Health: curl %s\n", m.URL("/api/health"))
			if cams.Control != "" {
				fmt.Printf("==> Rút dây camera / unplug a camera for 30 s: curl -X POST 'http://%s/cameras/cam1/offline?for=30s' (fault API: hwtest/README.md)\n", cams.Control)
			}
			if lan != nil {
				wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := m.WaitLine(wctx, regexp.MustCompile(`camera network up`))
				wcancel()
				if err == nil {
					err = lan.Plug(ctx, filepath.Join(absOut, "qemu-virt-run", "camsim"), filepath.Join(absOut, "clips"), 4)
				}
				if err != nil {
					fmt.Printf("==> Mạng camera / camera network: cameras not plugged in: %v\n", err)
				} else {
					fmt.Println("==> Mạng camera / camera network: 4 camera cắm vào eth1 của hộp / 4 cameras plugged into the box's eth1 (namespaces cnet-run-c1..4);")
					fmt.Println("    mở Ghép camera trên trang Camera / open the Pair switch on the Cameras page; đăng nhập camera / camera login: admin / ma-xac-minh-N (N = 1..4)")
				}
			}
			fmt.Println("==> Ctrl-C: tắt máy sạch / clean shutdown (power button); the disk is kept")
		}
	}()
	select {
	case <-sigs:
		fmt.Println("\nmatthan-run: pressing the power button (system_powerdown) ...")
		if err := m.PowerButton(); err != nil {
			select {
			case <-m.Exited(): // it was already going
				return nil
			default:
			}
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
					continue // the same Ctrl-C, sent again
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

// waitHealth polls the box's health page until it answers 200 or the time
// is up.
func waitHealth(ctx context.Context, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}
