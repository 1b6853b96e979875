// Package modload loads the board's kernel modules, dependencies first.
//
// The image build lists the board's modules in load order (dependencies
// first) in the initramfs (firmware/modorder); this package loads that
// list with finit_module(2), independent modules in parallel.
package modload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/firmware/modorder"
)

// Dir is where the initramfs keeps modules for the running kernel.
func Dir() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:])), nil
}

// MaxWait bounds how long LoadAll waits for the modules: a driver whose
// probe oopses leaves its finit_module(2) (and init's thread in it) stuck
// for good (seen under QEMU: i6300esb took an external abort), and the
// box must still come up, mount its data and record, without that
// module and the ones after it.
const MaxWait = 30 * time.Second

// LoadAll loads every module in dir's order file, each as soon as its
// dependencies are in. It goes on past failures and reports them all; an
// already loaded module is fine. Modules still loading after MaxWait are
// reported and left behind.
func LoadAll(dir string) (loaded int, took time.Duration, err error) {
	start := time.Now()
	b, err := os.ReadFile(filepath.Join(dir, modorder.File))
	if err != nil {
		return 0, 0, fmt.Errorf("modules: %w", err)
	}
	n, errs := loadParallel(modorder.Parse(b), func(rel string) error { return load(filepath.Join(dir, rel)) }, MaxWait)
	if len(errs) > 0 {
		return n, time.Since(start), fmt.Errorf("modules not loaded: %s", strings.Join(errs, "; "))
	}
	return n, time.Since(start), nil
}

// loadParallel runs load for every entry after its dependencies (those
// in the list) have been tried; a module whose dependency failed is not
// loaded. It returns after limit even if some have not finished, and
// names them.
func loadParallel(es []modorder.Entry, load func(string) error, limit time.Duration) (int, []string) {
	type state struct {
		done chan struct{}
		ok   bool
	}
	states := map[string]*state{}
	for _, e := range es {
		states[e.Path] = &state{done: make(chan struct{})}
	}
	var mu sync.Mutex
	var errs []string
	loaded := 0
	var wg sync.WaitGroup
	for _, e := range es {
		wg.Add(1)
		go func(e modorder.Entry) {
			defer wg.Done()
			st := states[e.Path]
			defer close(st.done)
			for _, d := range e.Deps {
				if ds, ok := states[d]; ok {
					<-ds.done
					if !ds.ok {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("%s: needs %s, which failed", filepath.Base(e.Path), filepath.Base(d)))
						mu.Unlock()
						return
					}
				}
			}
			if err := load(e.Path); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s: %v", filepath.Base(e.Path), err))
				mu.Unlock()
				return
			}
			st.ok = true
			mu.Lock()
			loaded++
			mu.Unlock()
		}(e)
	}
	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-all:
	case <-timer.C:
		var stuck []string
		for _, e := range es {
			select {
			case <-states[e.Path].done:
			default:
				stuck = append(stuck, filepath.Base(e.Path))
			}
		}
		mu.Lock()
		errs = append(errs, fmt.Sprintf("still loading after %s (a driver's probe hung?), left behind: %s", limit, strings.Join(stuck, " ")))
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	out := append([]string(nil), errs...)
	sort.Strings(out)
	return loaded, out
}

func load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return retryMissing(func() error {
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	}, 20, 100*time.Millisecond)
}

// retryMissing runs insert again while it fails with ENOENT: a module
// whose init asks for something another module registers, with no
// modules.dep line between them (libcrc32c asks the crypto API for
// crc32c, which crc32c_generic registers while both load in parallel),
// fails with ENOENT until that is in.
func retryMissing(insert func() error, tries int, wait time.Duration) error {
	var err error
	for i := 0; i < tries; i++ {
		if err = insert(); !errors.Is(err, unix.ENOENT) {
			return err
		}
		time.Sleep(wait)
	}
	return err
}
