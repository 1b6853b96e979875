package timesync

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/ntp"
)

// fakeClock is a system clock that moves only when told. It records every
// step and fails the test on a backwards one.
type fakeClock struct {
	t       *testing.T
	mu      sync.Mutex
	now     time.Time
	slewing time.Duration
	steps   []time.Duration
	slews   []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Step(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d < 0 {
		c.t.Errorf("clock stepped backwards by %v", -d)
	}
	c.now = c.now.Add(d)
	c.steps = append(c.steps, d)
	return nil
}
func (c *fakeClock) Slew(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slewing = d
	c.slews = append(c.slews, d)
	return nil
}
func (c *fakeClock) Slewing() time.Duration { c.mu.Lock(); defer c.mu.Unlock(); return c.slewing }

// finishSlew applies the pending slew as if its time had passed.
func (c *fakeClock) finishSlew() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.slewing)
	c.slewing = 0
}

// trueTime answers Sync with the offset between "true" time and the clock.
type trueTime struct {
	clock *fakeClock
	truth time.Time
	err   error
	calls int
}

func (s *trueTime) Sync(_ context.Context, servers []string) (ntp.Result, error) {
	s.calls++
	if s.err != nil {
		return ntp.Result{}, s.err
	}
	return ntp.Result{Sample: ntp.Sample{Server: servers[0], Offset: s.truth.Sub(s.clock.Now()), Delay: time.Millisecond, Stratum: 2,
		Addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 123}}, Agreeing: 1, Asked: len(servers)}, nil
}

type fakeRTC struct{ set []time.Time }

func (r *fakeRTC) Read() (time.Time, error) { return time.Time{}, ErrNoRTC }
func (r *fakeRTC) Set(t time.Time) error    { r.set = append(r.set, t); return nil }

var build = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func newTest(t *testing.T, truth time.Time) (*Discipline, *fakeClock, *trueTime, *fakeRTC, string) {
	t.Helper()
	c := &fakeClock{t: t, now: build}
	s := &trueTime{clock: c, truth: truth}
	r := &fakeRTC{}
	dir := t.TempDir()
	d := New(Config{Clock: c, Syncer: s, RTC: r, DataDir: dir, Servers: func() []string { return []string{"ntp.test"} }, Logf: t.Logf})
	return d, c, s, r, dir
}

func TestFirstSyncStepsForward(t *testing.T) {
	truth := time.Date(2027, 3, 5, 10, 0, 0, 0, time.UTC)
	d, c, _, r, dir := newTest(t, truth)
	if ok, steps := d.TimeState(); ok || steps != 0 {
		t.Fatalf("before sync: synced %v steps %d", ok, steps)
	}
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(c.steps) != 1 || !c.Now().Equal(truth) {
		t.Errorf("steps %v, clock %v, want one step to %v", c.steps, c.Now(), truth)
	}
	st := d.Status()
	if !st.Synced || st.Source != SourceNTP || st.Server != "ntp.test" || st.Steps != 1 {
		t.Errorf("status %+v", st)
	}
	if ok, steps := d.TimeState(); !ok || steps != 1 {
		t.Errorf("TimeState = %v %d, want true 1", ok, steps)
	}
	if len(r.set) != 1 || !r.set[0].Equal(truth) {
		t.Errorf("RTC writes %v, want one of %v", r.set, truth)
	}
	m, err := ReadMark(filepath.Join(dir, LastGoodFile))
	if err != nil || !m.Time.Equal(truth) || !m.Synced || m.Source != SourceNTP {
		t.Errorf("mark %+v %v", m, err)
	}
	if u := d.Upstream(); u.Stratum != 2 || u.RefID != [4]byte{192, 0, 2, 1} {
		t.Errorf("upstream %+v", u)
	}
	// A second sync, 200 ms off: slewed, no step, the RTC not rewritten
	// within the hour.
	c.mu.Lock()
	c.now = c.now.Add(-200 * time.Millisecond)
	c.mu.Unlock()
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(c.steps) != 1 || c.slewing != 200*time.Millisecond || len(r.set) != 1 {
		t.Errorf("steps %v slewing %v rtc %d", c.steps, c.slewing, len(r.set))
	}
}

func TestAheadSlewsNeverSteps(t *testing.T) {
	d, c, s, _, _ := newTest(t, build.Add(-30*time.Second))
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(c.steps) != 0 || c.slewing != -30*time.Second {
		t.Fatalf("steps %v slewing %v, want a slew of -30 s", c.steps, c.slewing)
	}
	if d.Synced() {
		t.Error("synced while 30 s ahead")
	}
	c.finishSlew()
	s.truth = c.Now().Add(100 * time.Millisecond)
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !d.Synced() || len(c.steps) != 0 {
		t.Errorf("after slewing in: synced %v steps %v", d.Synced(), c.steps)
	}
}

func TestSyncFailureAndHoldover(t *testing.T) {
	c := &fakeClock{t: t, now: build}
	s := &trueTime{clock: c, truth: build.Add(time.Hour)}
	d := New(Config{Clock: c, Syncer: s, Holdover: 50 * time.Millisecond, Servers: func() []string { return []string{"x"} }})
	if err := d.SyncNow(context.Background()); err != nil || !d.Synced() {
		t.Fatalf("sync: %v synced %v", err, d.Synced())
	}
	s.err = ntp.ErrNoServer
	if err := d.SyncNow(context.Background()); !errors.Is(err, ntp.ErrNoServer) {
		t.Fatalf("SyncNow = %v", err)
	}
	if !d.Synced() {
		t.Error("one failed sync lost synchronisation at once")
	}
	if d.Status().LastError == "" {
		t.Error("no LastError")
	}
	time.Sleep(100 * time.Millisecond)
	if d.Synced() {
		t.Error("still synced after the holdover")
	}
	// No servers at all.
	d2 := New(Config{Clock: c, Syncer: s})
	if err := d2.SyncNow(context.Background()); !errors.Is(err, ntp.ErrNoServer) {
		t.Errorf("no servers: %v", err)
	}
}

func TestSetByOfficer(t *testing.T) {
	d, c, _, _, dir := newTest(t, build)
	want := build.Add(400 * 24 * time.Hour)
	if err := d.SetByOfficer(want, "officer1", false); err != nil {
		t.Fatal(err)
	}
	st := d.Status()
	if st.Source != SourceOfficer || st.By != "officer1" || st.Synced || st.Steps != 1 || !c.Now().Equal(want) {
		t.Errorf("status %+v clock %v", st, c.Now())
	}
	if m, _ := ReadMark(filepath.Join(dir, LastGoodFile)); m.By != "officer1" || m.Source != SourceOfficer {
		t.Errorf("mark %+v", m)
	}
	if err := d.SetByOfficer(c.Now().Add(-10*time.Minute), "officer1", true); !errors.Is(err, ErrBackwards) {
		t.Errorf("10 min back: %v, want ErrBackwards", err)
	}
	if err := d.SetByOfficer(c.Now().Add(-30*time.Second), "officer1", false); err != nil || c.slewing != -30*time.Second {
		t.Errorf("30 s back: %v, slewing %v", err, c.slewing)
	}
	// Synchronised: refused without confirmation.
	c2 := &fakeClock{t: t, now: build}
	d2 := New(Config{Clock: c2, Syncer: &trueTime{clock: c2, truth: build}, Servers: func() []string { return []string{"x"} }})
	d2.SyncNow(context.Background())
	if err := d2.SetByOfficer(build.Add(time.Hour), "o", false); !errors.Is(err, ErrSynced) {
		t.Errorf("while synced: %v, want ErrSynced", err)
	}
	if err := d2.SetByOfficer(build.Add(time.Hour), "o", true); err != nil {
		t.Errorf("confirmed: %v", err)
	}
	// Host mode never sets the host's clock.
	d3 := New(Config{})
	if err := d3.SetByOfficer(time.Now().Add(time.Hour), "o", true); !errors.Is(err, ErrWatching) {
		t.Errorf("watching: %v", err)
	}
}

func TestWatchOnly(t *testing.T) {
	now := time.Now()
	c := &fakeClock{t: t, now: now}
	d := New(Config{Syncer: &trueTime{clock: c, truth: now.Add(300 * time.Millisecond)}, Now: c.Now, Servers: func() []string { return []string{"x"} }})
	if err := d.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := d.Status()
	if !st.Synced || !st.Watching || st.Offset != 300*time.Millisecond {
		t.Errorf("status %+v", st)
	}
}

func TestMarkNeverGoesBack(t *testing.T) {
	p := filepath.Join(t.TempDir(), LastGoodFile)
	if err := WriteMark(p, Mark{Time: build.Add(time.Hour), Source: SourceNTP, Synced: true}); err != nil {
		t.Fatal(err)
	}
	if err := WriteMark(p, Mark{Time: build, Source: SourceBuild}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMark(p)
	if err != nil || !m.Time.Equal(build.Add(time.Hour)) || m.Source != SourceBuild {
		t.Errorf("mark %+v %v, want the later time kept", m, err)
	}
}

func TestRestore(t *testing.T) {
	saved := time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		file     string // "" none
		now      time.Time
		wantSet  bool
		wantSrc  Source
		wantSync bool
	}{
		{"no file", "", build, false, SourceBuild, false},
		{"saved later than the build date", `{"time":"2027-06-01T12:00:00Z","source":"ntp","synced":true}`, build, true, SourceDisk, false},
		{"rtc ahead of the saved time", `{"time":"2027-06-01T12:00:00Z","source":"ntp","synced":true}`, saved.Add(time.Hour), false, SourceRTC, true},
		{"garbage", `{"time":`, build, false, SourceBuild, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				os.MkdirAll(filepath.Join(dir, "clock"), 0o755)
				os.WriteFile(filepath.Join(dir, LastGoodFile), []byte(tt.file), 0o644)
			}
			src := SourceBuild
			if tt.wantSrc == SourceRTC {
				src = SourceRTC
			}
			var set time.Time
			boot := filepath.Join(dir, "run", "clock.json")
			m, _ := Restore(dir, boot, tt.now, func(t time.Time) error { set = t; return nil }, src)
			if (!set.IsZero()) != tt.wantSet || (tt.wantSet && !set.Equal(saved)) {
				t.Errorf("set %v, want set=%v", set, tt.wantSet)
			}
			if m.Source != tt.wantSrc {
				t.Errorf("source %s, want %s", m.Source, tt.wantSrc)
			}
			got, err := ReadMark(boot)
			if err != nil || got.Source != tt.wantSrc {
				t.Errorf("boot file %+v %v", got, err)
			}
			d := New(Config{Clock: &fakeClock{t: t, now: tt.now}, BootFile: boot})
			if st := d.Status(); st.Source != tt.wantSrc || st.Synced != tt.wantSync {
				t.Errorf("discipline starts at %+v", st)
			}
		})
	}
}

func TestParseRoute(t *testing.T) {
	const table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	if gw, ok := parseRoute(table); !ok || gw != "10.0.2.2" {
		t.Errorf("gateway %q %v, want 10.0.2.2", gw, ok)
	}
	if _, ok := parseRoute(table[:100]); ok {
		t.Error("gateway found in a table without a default route")
	}
	if _, ok := parseRoute(""); ok {
		t.Error("gateway in nothing")
	}
}

func TestRunPersists(t *testing.T) {
	d, c, s, _, dir := newTest(t, build.Add(time.Hour))
	d.cfg.PersistEvery = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); !d.Synced() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if !d.Synced() {
		t.Fatal("Run never synced")
	}
	c.mu.Lock()
	c.now = c.now.Add(time.Minute)
	c.mu.Unlock()
	cancel()
	<-done
	m, err := ReadMark(filepath.Join(dir, LastGoodFile))
	if err != nil || !m.Time.Equal(build.Add(time.Hour+time.Minute)) {
		t.Errorf("mark at shutdown %+v %v", m, err)
	}
	if s.calls != 1 {
		t.Errorf("%d syncs, want 1 (the poll is 5 min)", s.calls)
	}
}

// Unsynchronised, the retries back off (doubling from Retry).
func TestRetryBacksOff(t *testing.T) {
	c := &fakeClock{t: t, now: build}
	s := &trueTime{clock: c, err: ntp.ErrNoServer}
	d := New(Config{Clock: c, Syncer: s, Retry: 10 * time.Millisecond, Servers: func() []string { return []string{"x"} }})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	d.Run(ctx)
	// Without backoff: 15 tries in 150 ms; with it: at 0, 10, 30, 70 ms.
	if s.calls < 1 || s.calls > 5 {
		t.Errorf("%d tries in 150 ms, want at most 5 (backing off)", s.calls)
	}
}
