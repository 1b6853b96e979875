// Package modload loads the board's kernel modules, dependencies first.
//
// The Debian kernel package ships no modules.dep. The image build runs
// depmod on the package, resolves the board's modules and their
// dependencies, and writes them in load order (dependencies first) to
// OrderFile in the initramfs; this package loads that list with
// finit_module(2).
package modload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// OrderFile lists module files, one path per line relative to the
// module directory (/lib/modules/RELEASE), in load order.
const OrderFile = "matthan.load-order"

// Dir is where the initramfs keeps modules for the running kernel.
func Dir() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:])), nil
}

// ParseOrder reads an order file's content.
func ParseOrder(b []byte) []string {
	var paths []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			paths = append(paths, l)
		}
	}
	return paths
}

// LoadAll loads every module in dir's order file. It goes on past
// failures and reports them all; an already loaded module is fine.
func LoadAll(dir string) (loaded int, took time.Duration, err error) {
	start := time.Now()
	b, err := os.ReadFile(filepath.Join(dir, OrderFile))
	if err != nil {
		return 0, 0, fmt.Errorf("modules: %w", err)
	}
	var failed []string
	for _, rel := range ParseOrder(b) {
		if err := load(filepath.Join(dir, rel)); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", filepath.Base(rel), err))
			continue
		}
		loaded++
	}
	if len(failed) > 0 {
		return loaded, time.Since(start), fmt.Errorf("modules not loaded: %s", strings.Join(failed, "; "))
	}
	return loaded, time.Since(start), nil
}

func load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}
