package modload

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/matthan/matthan/firmware/modorder"
)

func TestLoadParallelKeepsDependencyOrder(t *testing.T) {
	es := []modorder.Entry{
		{Path: "crc16.ko"}, {Path: "mbcache.ko"}, {Path: "jbd2.ko"},
		{Path: "ext4.ko", Deps: []string{"crc16.ko", "mbcache.ko", "jbd2.ko"}},
		{Path: "failover.ko"}, {Path: "net_failover.ko", Deps: []string{"failover.ko"}},
		{Path: "virtio_net.ko", Deps: []string{"net_failover.ko", "failover.ko"}},
		{Path: "broken.ko"}, {Path: "needs_broken.ko", Deps: []string{"broken.ko"}},
		{Path: "builtin_dep.ko", Deps: []string{"not-in-list.ko"}},
	}
	var mu sync.Mutex
	loadedAt := map[string]int{}
	step := 0
	n, errs := loadParallel(es, func(p string) error {
		if p == "broken.ko" {
			return errors.New("exec format error")
		}
		mu.Lock()
		defer mu.Unlock()
		step++
		loadedAt[p] = step
		return nil
	}, time.Minute)
	for _, e := range es {
		for _, d := range e.Deps {
			if at, ok := loadedAt[e.Path]; ok && d != "not-in-list.ko" && loadedAt[d] >= at {
				t.Errorf("%s loaded before its dependency %s", e.Path, d)
			}
		}
	}
	if n != 8 {
		t.Errorf("loaded %d, want 8", n)
	}
	if len(errs) != 2 {
		t.Errorf("errors = %q, want broken.ko and needs_broken.ko", errs)
	}
	if _, ok := loadedAt["needs_broken.ko"]; ok {
		t.Error("a module whose dependency failed was loaded")
	}
}

// TestLoadParallelLeavesAHungProbe: a module whose load never returns (a
// driver's probe that oopsed) and the one that needs it are left behind
// after the limit, named; the others are loaded and LoadAll's caller goes
// on booting.
func TestLoadParallelLeavesAHungProbe(t *testing.T) {
	es := []modorder.Entry{{Path: "virtio_pci.ko"}, {Path: "i6300esb.ko"}, {Path: "after_esb.ko", Deps: []string{"i6300esb.ko"}}, {Path: "ext4.ko"}}
	hang := make(chan struct{})
	defer close(hang)
	start := time.Now()
	n, errs := loadParallel(es, func(p string) error {
		if p == "i6300esb.ko" {
			<-hang
		}
		return nil
	}, 200*time.Millisecond)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("returned after %s", took)
	}
	if n != 2 || len(errs) != 1 || !strings.Contains(errs[0], "left behind: i6300esb.ko after_esb.ko") {
		t.Errorf("loaded %d, errors %q; want 2 and i6300esb.ko, after_esb.ko left behind", n, errs)
	}
}

func TestRetryMissing(t *testing.T) {
	for _, tt := range []struct {
		name      string
		failures  int // ENOENT answers before success
		tries     int
		wantCalls int
		wantErr   error
	}{
		{"loads at once", 0, 5, 1, nil},
		{"crypto registered a little later", 3, 5, 4, nil},
		{"never there", 9, 5, 5, unix.ENOENT},
	} {
		calls := 0
		err := retryMissing(func() error {
			calls++
			if calls <= tt.failures {
				return unix.ENOENT
			}
			return nil
		}, tt.tries, time.Millisecond)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || calls != tt.wantCalls {
			t.Errorf("%s: err %v after %d calls; want %v after %d", tt.name, err, calls, tt.wantErr, tt.wantCalls)
		}
	}
	calls := 0
	if err := retryMissing(func() error { calls++; return unix.EINVAL }, 5, time.Millisecond); !errors.Is(err, unix.EINVAL) || calls != 1 {
		t.Errorf("another error: %v after %d calls; want EINVAL at once", err, calls)
	}
}
