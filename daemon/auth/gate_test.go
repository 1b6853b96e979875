package auth

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newGate(t testing.TB, params HashParams) *Gate {
	t.Helper()
	st, err := OpenStore(filepath.Join(t.TempDir(), "accounts.json"), params)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"officer", "house1", "house2"} {
		if err := st.CreateUser(u, "đúng-mật-khẩu-"+u, Officer, ""); err != nil {
			t.Fatal(err)
		}
	}
	return &Gate{Store: st, Throttle: NewThrottle()}
}

// 60 parallel wrong passwords from one address: at most Free are checked
// (the failure is reserved before hashing); the rest are refused locked or
// busy, never checked.
func TestGateParallelWrongPasswordsNeverPassTheLimit(t *testing.T) {
	g := newGate(t, cheap)
	before := g.Store.Pool().Stats().Done
	var wg sync.WaitGroup
	var wrong, locked, busy atomic.Int64
	start := make(chan struct{})
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := g.Check(context.Background(), "officer", "sai-mật-khẩu", "10.0.2.2")
			switch {
			case errors.Is(err, ErrBadPassword):
				wrong.Add(1)
			case errors.Is(err, ErrLocked):
				locked.Add(1)
			case errors.Is(err, ErrBusy):
				busy.Add(1)
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	checked := g.Store.Pool().Stats().Done - before
	if checked > int64(g.Throttle.Free) {
		t.Errorf("%d wrong passwords checked, limit %d (wrong %d, locked %d, busy %d)", checked, g.Throttle.Free, wrong.Load(), locked.Load(), busy.Load())
	}
	if wrong.Load()+locked.Load()+busy.Load() != 60 {
		t.Errorf("answers: wrong %d locked %d busy %d", wrong.Load(), locked.Load(), busy.Load())
	}
}

// Behind one NAT address, one household's mistakes lock only that
// household's name there; another user at the same address, and the same
// user from elsewhere, still log in.
func TestGateLockoutIsPerUserAndAddress(t *testing.T) {
	g := newGate(t, cheap)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		g.Check(ctx, "house1", "sai-mật-khẩu", "10.0.2.2")
	}
	if _, err := g.Check(ctx, "house1", "đúng-mật-khẩu-house1", "10.0.2.2"); !errors.Is(err, ErrLocked) {
		t.Errorf("locked pair: %v, want ErrLocked", err)
	}
	if _, err := g.Check(ctx, "house2", "đúng-mật-khẩu-house2", "10.0.2.2"); err != nil {
		t.Errorf("another household behind the same address refused: %v", err)
	}
	if _, err := g.Check(ctx, "house1", "đúng-mật-khẩu-house1", "192.168.1.7"); err != nil {
		t.Errorf("the owner from another address refused: %v", err)
	}
}

// Names that cannot exist (too long, bad characters) and over-long
// passwords touch neither the throttle nor the hasher: a 1 MB name keeps
// nothing.
func TestGateRefusesImpossibleNamesCheaply(t *testing.T) {
	g := newGate(t, cheap)
	before := g.Store.Pool().Stats().Done
	for _, tt := range []struct{ name, pw string }{
		{strings.Repeat("a", 1<<20), "x"}, {"ông-A", "x"}, {"", "x"}, {"officer", strings.Repeat("x", MaxPasswordBytes+1)},
	} {
		if _, err := g.Check(context.Background(), tt.name, tt.pw, "1.2.3.4"); !errors.Is(err, ErrBadPassword) {
			t.Errorf("%.20q: %v", tt.name, err)
		}
	}
	if n := g.Throttle.Len(); n != 0 {
		t.Errorf("throttle holds %d keys for impossible names", n)
	}
	if d := g.Store.Pool().Stats().Done - before; d != 0 {
		t.Errorf("%d hashes spent on impossible names", d)
	}
}

// A login flood with the real cost (19 MiB argon2id): never more than 2
// hashes at once, the rest refused busy at once, and the Go heap stays
// bounded (2 x 19 MiB live plus garbage), not 19 MiB per request (200 of
// them: 3.8 GB).
func TestGateFloodBoundsHashesAndMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("real argon2id cost")
	}
	g := newGate(t, cheap)
	g.Store.params = DefaultHashParams
	g.Store.dummyHash, _ = HashPassword("not a password", DefaultHashParams)
	runtime.GC()
	peakHeap := sampleHeap()
	var wg sync.WaitGroup
	var busy atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// distinct names and addresses: the throttle does not stop them
			name := "u" + strings.Repeat("x", i%20) + string(rune('a'+i%26))
			_, err := g.Check(context.Background(), name, "sai-mật-khẩu", "10.0.0."+string(rune('0'+i%10)))
			if errors.Is(err, ErrBusy) {
				busy.Add(1)
			}
		}()
	}
	wg.Wait()
	peak := peakHeap()
	st := g.Store.Pool().Stats()
	if st.Peak > DefaultHashWorkers {
		t.Errorf("%d hashes at once, bound %d", st.Peak, DefaultHashWorkers)
	}
	if busy.Load() == 0 || st.Refused == 0 {
		t.Errorf("a flood of 200 got no busy refusal (refused %d)", st.Refused)
	}
	// Live hashes, garbage of finished ones until the GC runs, slack for a
	// noisy machine: loose, yet a tenth of what 200 unbounded hashes take.
	if limit := uint64(256) << 20; peak > limit {
		t.Errorf("heap in use peaked at %d MiB, bound %d MiB", peak>>20, limit>>20)
	}
	t.Logf("peak hashes %d, refused %d, done %d, peak heap %d MiB", st.Peak, st.Refused, st.Done, peak>>20)
}

func TestHashPoolBusyAndQueue(t *testing.T) {
	p := NewHashPool(1, 1)
	p.MaxWait = 50 * time.Millisecond
	release := make(chan struct{})
	running := make(chan struct{})
	go p.Do(context.Background(), 0, func() { close(running); <-release })
	<-running
	queued := make(chan error, 1)
	go func() { queued <- p.Do(context.Background(), 0, func() {}) }()
	time.Sleep(10 * time.Millisecond)
	if err := p.Do(context.Background(), 0, func() { t.Error("ran past a full queue") }); !errors.Is(err, ErrBusy) {
		t.Errorf("full queue: %v, want ErrBusy", err)
	}
	if err := <-queued; !errors.Is(err, ErrBusy) {
		t.Errorf("queued past MaxWait: %v, want ErrBusy", err)
	}
	close(release)
}

func TestPasswordPolicy(t *testing.T) {
	for _, tt := range []struct {
		pw string
		ok bool
	}{
		{"12345678", false},
		{"        ", false},
		{"          ", false}, // ten spaces: one repeated character
		{"aaaaaaaaaaaa", false},
		{"ơơơơơơơơơơơơ", false},
		{"1234567890", false}, // common
		{"QwertyUIOP", false}, // common, any case
		{"short-pw", false},
		{strings.Repeat("x", MaxPasswordBytes) + "y", false},
		{"mật-khẩu-dài-1", true},
		{"nha-ong-a-2026", true},
	} {
		if err := CheckPasswordPolicy(tt.pw); (err == nil) != tt.ok {
			t.Errorf("CheckPasswordPolicy(%q) = %v, want ok=%v", tt.pw, err, tt.ok)
		}
	}
	if !CommonPassword("password") || !CommonPassword("123456") || CommonPassword("mật-khẩu-dài-1") {
		t.Error("common password list not loaded")
	}
}

// sampleHeap samples the Go heap in use every 5 ms until the returned
// function is called; that returns the peak.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak.Load()
	}
}

// FuzzGateCheck: any name, password and address from a client; no panic,
// no login without the right password, and names that cannot exist leave
// nothing in the throttle.
func FuzzGateCheck(f *testing.F) {
	g := newGate(f, cheap)
	g.Throttle.GlobalFree = math.MaxFloat64 // no slow-down: fuzzing fails a lot on purpose
	f.Add("officer", "đúng-mật-khẩu-officer", "10.0.2.2")
	f.Add("officer", "sai", "10.0.2.2")
	f.Add(strings.Repeat("a", 100), "x", "")
	f.Add("ông\x00", "\xff", "::1")
	f.Fuzz(func(t *testing.T, name, pw, addr string) {
		before := g.Throttle.Len()
		u, err := g.Check(context.Background(), name, pw, addr)
		if err == nil && (name != u.Name || pw != "đúng-mật-khẩu-"+name) {
			t.Fatalf("logged in as %q with %q", u.Name, pw)
		}
		if !ValidName(name) && g.Throttle.Len() != before {
			t.Fatalf("impossible name %q changed the throttle", name)
		}
	})
}
