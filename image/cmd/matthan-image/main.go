// Command matthan-image builds a board's firmware (kernel, initramfs and
// the flashable disk image), fetches its pinned Debian packages, or moves
// stale pins to the newest packages in the archive.
//
//	matthan-image fetch -board qemu-virt        fetch and verify the pinned packages
//	matthan-image build -board qemu-virt        out/qemu-virt/{vmlinuz,initrd.cpio,matthan.img}
//	matthan-image bundle -board qemu-virt -key K  also OUT/BOARD/matthan.bundle, signed with key file K
//	matthan-image keygen -key K -pub P           a new update key K (0600) and a keys file P for images
//	matthan-image repin                          move every pin to the newest package
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/image/build"
	"github.com/matthan/matthan/image/debs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "matthan-image:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) < 2 {
		return fmt.Errorf("usage: matthan-image build|fetch|repin [flags]")
	}
	sub := os.Args[1]
	fs := flag.NewFlagSet(sub, flag.ExitOnError)
	boardName := fs.String("board", "qemu-virt", "board: "+fmt.Sprint(board.Names()))
	out := fs.String("out", "out", "output folder (the board's files go to OUT/BOARD)")
	cache := fs.String("cache", "", "package cache (default OUT/cache)")
	debug := fs.Bool("debug", false, "debug image: a shell and u-root core commands on the console")
	noDisk := fs.Bool("no-disk", false, "build kernel and initramfs only")
	cmdline := fs.String("cmdline", "", "extra kernel command line for the boot loader entry")
	updateKeys := fs.String("update-keys", "", "public keys file the image trusts for updates (firmware/bundle)")
	key := fs.String("key", "", "bundle, keygen: the private update key file")
	pub := fs.String("pub", "", "keygen: the public keys file to write")
	since := fs.String("since", "", "bundle: release.json of the firmware the bundle updates from (parts it has are left out)")
	counter := fs.Uint64("counter", 0, "anti-rollback counter (default: the source date in Unix seconds)")
	fs.Parse(os.Args[2:])
	if *cache == "" {
		*cache = filepath.Join(*out, "cache")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	f := &debs.Fetcher{Dir: filepath.Join(*cache, "debs"), Log: os.Stderr}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return err
	}
	switch sub {
	case "fetch":
		b, err := board.Load(*boardName)
		if err != nil {
			return err
		}
		u, err := build.LoadUserland(repo)
		if err != nil {
			return err
		}
		pins := append(append([]board.DebPin{b.Kernel.DebPin}, b.BootPackages...), u.Packages...)
		for _, p := range pins {
			path, err := f.Fetch(ctx, p)
			if err != nil {
				return err
			}
			fmt.Printf("%s %s  %s\n", p.SHA256, p.Package+"="+p.Version, path)
		}
		return nil
	case "repin":
		files, _ := filepath.Glob(filepath.Join(repo, "board", "*", "board.json"))
		files = append(files, filepath.Join(repo, "image", "userland.json"))
		for _, file := range files {
			moved, err := f.Repin(ctx, file)
			if err != nil {
				return err
			}
			for _, m := range moved {
				fmt.Println("moved", m)
			}
		}
		fmt.Println("pins are at the newest packages; rebuild with: make image")
		return nil
	case "keygen":
		if *key == "" || *pub == "" {
			return fmt.Errorf("keygen: -key and -pub are required")
		}
		k, err := bundle.GenerateKey(*key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*pub, bundle.FormatKeys(bundle.Keys{Current: k}), 0o644); err != nil {
			return err
		}
		fmt.Printf("key %s, public keys %s\n", *key, *pub)
		return nil
	case "build", "bundle":
		o := build.Options{
			Board: *boardName, Repo: repo, Out: filepath.Join(*out, *boardName), Cache: *cache,
			Debug: *debug, NoDisk: *noDisk || sub == "bundle", Cmdline: *cmdline, Log: os.Stderr,
			UpdateKeys: *updateKeys, Counter: *counter,
		}
		if sub == "bundle" {
			if *key == "" {
				return fmt.Errorf("bundle: -key is required (make bundle KEY=...)")
			}
			if o.BundleKey, err = bundle.LoadPrivateKey(*key); err != nil {
				return err
			}
			if *since != "" {
				r, err := firmware.Load(*since)
				if err != nil {
					return err
				}
				o.BundleSince = &r
			}
		}
		res, err := build.Build(ctx, o)
		if err != nil {
			return err
		}
		fmt.Printf("kernel     %s (%s)\n", res.Kernel, res.Release)
		fmt.Printf("initramfs  %s  %d bytes  sha256 %s\n", res.Initramfs, res.InitramfsBytes, res.InitramfsSHA256)
		if res.Image != "" {
			fmt.Printf("image      %s  %d bytes  sha256 %s\n", res.Image, res.ImageBytes, res.ImageSHA256)
		}
		fmt.Printf("release    %s  %s %s counter %d\n", res.ReleaseFile, res.Firmware.Board, res.Firmware.Version, res.Firmware.Counter)
		if res.Bundle != "" {
			fmt.Printf("bundle     %s  %d bytes\n", res.Bundle, res.BundleBytes)
			for _, p := range res.BundleManifest.Parts {
				fmt.Printf("  part %-28s %10d bytes, stored %10d %s omitted=%v\n", p.Name, p.Size, p.Stored, p.Compression, p.Omitted)
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q: build, fetch or repin", sub)
	}
}
