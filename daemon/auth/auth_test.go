package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var cheap = HashParams{Time: 1, Memory: 64, Threads: 1}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("mật khẩu đúng", DefaultHashParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q: not argon2id with the default parameters", h)
	}
	if !CheckPassword(h, "mật khẩu đúng") {
		t.Error("right password rejected")
	}
	for _, pw := range []string{"", "mật khẩu sai", "mật khẩu đúng "} {
		if CheckPassword(h, pw) {
			t.Errorf("wrong password %q accepted", pw)
		}
	}
	h2, _ := HashPassword("mật khẩu đúng", DefaultHashParams)
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestParseHashRefusesCostlyOrBroken(t *testing.T) {
	for _, h := range []string{
		"", "$argon2id$", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if _, _, _, err := parseHash(h); err == nil {
			t.Errorf("parseHash(%q) accepted", h)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	good, _ := HashPassword("x", cheap)
	f.Add(good)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=-1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, _, _, err := parseHash(s)
		if err == nil && (p.Memory > 1<<20 || p.Time > 16) {
			t.Fatalf("accepted costly parameters %+v", p)
		}
		if err == nil {
			CheckPassword(s, "x") // must not panic
		}
	})
}

func TestCanViewCamera(t *testing.T) {
	h1 := &HouseholdInfo{ID: "h1", Grants: []string{"road1"}}
	for _, tt := range []struct {
		u    User
		h    *HouseholdInfo
		c    Camera
		want bool
	}{
		{User{Role: Officer}, nil, Camera{ID: "cam2", Household: "h2"}, true},
		{User{Role: Officer, Disabled: true}, nil, Camera{ID: "cam2"}, false},
		{User{Role: Technician}, nil, Camera{ID: "cam1", Household: "h1"}, false},
		{User{Role: Household, Household: "h1"}, h1, Camera{ID: "cam1", Household: "h1"}, true},
		{User{Role: Household, Household: "h1"}, h1, Camera{ID: "road1"}, true},
		{User{Role: Household, Household: "h1"}, h1, Camera{ID: "road2"}, false},
		{User{Role: Household, Household: "h1"}, h1, Camera{ID: "cam2", Household: "h2"}, false},
		{User{Role: Household, Household: "h1"}, nil, Camera{ID: "cam1", Household: "h1"}, false},
		{User{Role: Household, Household: "h2"}, h1, Camera{ID: "road1"}, false}, // someone else's household record
		{User{Role: Household}, &HouseholdInfo{}, Camera{ID: "road"}, false},
		{User{Role: "admin"}, nil, Camera{ID: "cam1"}, false},
		// A grant counts for road cameras only: a granted ID that now
		// belongs to a household (reassigned, or a new camera under a
		// deleted one's ID) shows nothing, whatever the grant list says.
		{User{Role: Household, Household: "h1"}, h1, Camera{ID: "road1", Household: "h2"}, false},
	} {
		if got := CanViewCamera(tt.u, tt.h, tt.c); got != tt.want {
			t.Errorf("CanViewCamera(%+v, %+v, %+v) = %v, want %v", tt.u, tt.h, tt.c, got, tt.want)
		}
	}
}

func TestStorePersistsAndValidates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.json")
	s, err := OpenStore(path, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !s.NeedsSetup() {
		t.Error("empty store does not need setup")
	}
	if err := s.CreateUser("tech", "short", Technician, ""); err == nil {
		t.Error("short password accepted")
	}
	if err := s.CreateUser("bad name!", "long enough pw", Technician, ""); err == nil {
		t.Error("bad name accepted")
	}
	if err := s.CreateUser("h", "long enough pw", Household, "nohouse"); err == nil {
		t.Error("household user without household accepted")
	}
	if err := s.CreateUser("tech", "long enough pw", Technician, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser("tech", "long enough pw", Officer, ""); err == nil {
		t.Error("duplicate user accepted")
	}
	if err := s.PutHousehold("h1", "Nhà A", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGrants("h1", []string{"road2", "road1", "road1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser("nha-a", "long enough pw", Household, "h1"); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(path, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if s2.NeedsSetup() {
		t.Error("reopened store needs setup again")
	}
	u, err := s2.Authenticate(context.Background(), "nha-a", "long enough pw")
	if err != nil || u.Household != "h1" || u.Role != Household {
		t.Errorf("Authenticate after reopen: %+v, %v", u, err)
	}
	if _, err := s2.Authenticate(context.Background(), "nha-a", "wrong password"); err == nil {
		t.Error("wrong password accepted")
	}
	if _, err := s2.Authenticate(context.Background(), "ghost", "long enough pw"); err == nil {
		t.Error("unknown user accepted")
	}
	h, _ := s2.Household("h1")
	if strings.Join(h.Grants, ",") != "road1,road2" {
		t.Errorf("grants %v, want sorted unique road1,road2", h.Grants)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "long enough pw") {
		t.Error("password stored in clear")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("accounts file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestThrottleLocksAndDoubles(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewThrottle()
	th.Now = func() time.Time { return now }
	u, other := KeyOf("login", "u", "1.2.3.4"), KeyOf("login", "u", "5.6.7.8")
	fail := func(k ThrottleKey) time.Duration {
		t.Helper()
		a, wait := th.Begin(k)
		if a == nil {
			t.Fatalf("locked for %v before the attempt", wait)
		}
		return a.Failed()
	}
	for i := 1; i < th.Free; i++ {
		if d := fail(u); d != 0 {
			t.Fatalf("failure %d locked for %v", i, d)
		}
	}
	if d := fail(u); d != 30*time.Second {
		t.Errorf("5th failure locks %v, want 30s", d)
	}
	if a, _ := th.Begin(u); a != nil {
		t.Error("lock does not hold")
	}
	if a, _ := th.Begin(other); a == nil {
		t.Error("lock leaks to the same user at another address")
	} else {
		a.Cancel()
	}
	now = now.Add(31 * time.Second)
	if d := fail(u); d != time.Minute {
		t.Errorf("6th failure locks %v, want 1m", d)
	}
	for i := 0; i < 20; i++ {
		now = now.Add(16 * time.Minute)
		fail(u)
	}
	if _, d := th.Begin(u); d != 15*time.Minute {
		t.Errorf("lock grows to %v, want the 15m cap", d)
	}
	now = now.Add(16 * time.Minute)
	a, _ := th.Begin(u)
	if a == nil {
		t.Fatal("lock did not expire")
	}
	a.Succeeded()
	if d := fail(u); d != 0 {
		t.Errorf("after success, first failure locks %v", d)
	}
}

// Failures are reserved before the password is checked: of many attempts
// begun together, only Free get through, whatever their order of ending.
func TestThrottleReservesBeforeChecking(t *testing.T) {
	th := NewThrottle()
	k := KeyOf("login", "officer", "10.0.2.2")
	var started []*Attempt
	for i := 0; i < 60; i++ {
		if a, _ := th.Begin(k); a != nil {
			started = append(started, a)
		}
	}
	if len(started) != th.Free {
		t.Fatalf("%d of 60 parallel attempts passed the throttle, want %d", len(started), th.Free)
	}
	// A cancelled attempt (the hasher was busy) gives its failure back.
	started[4].Cancel()
	if a, _ := th.Begin(k); a == nil {
		t.Error("cancelled reservation not given back")
	}
}

// The table is bounded; filling it with fresh keys evicts the keys with
// the fewest failures first, so a locked key outlives a flood of one-try keys.
func TestThrottleBoundedKeepsLocks(t *testing.T) {
	th := NewThrottle()
	th.Cap = 100
	locked := KeyOf("login", "victim", "1.1.1.1")
	for i := 0; i < th.Free; i++ {
		a, _ := th.Begin(locked)
		a.Failed()
	}
	for i := 0; i < 10000; i++ {
		a, _ := th.Begin(KeyOf("login", "junk", string(rune(i))))
		a.Failed()
	}
	if n := th.Len(); n > th.Cap {
		t.Errorf("throttle holds %d keys, cap %d", n, th.Cap)
	}
	if a, _ := th.Begin(locked); a != nil {
		t.Error("a flood of one-failure keys evicted a locked key")
	}
}

// Past GlobalFree failures (decaying over a minute) every check slows down,
// up to GlobalMax; a success gives its reservation back.
func TestThrottleGlobalSlowDown(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewThrottle()
	th.Now = func() time.Time { return now }
	for i := 0; i < 30; i++ {
		a, _ := th.Begin(KeyOf("login", "u", string(rune('a'+i))))
		a.Failed()
	}
	if d := th.GlobalDelay(); d != 0 {
		t.Errorf("30 failures: delay %v, want 0", d)
	}
	for i := 0; i < 100; i++ {
		a, _ := th.Begin(KeyOf("login", "v", string(rune('a'+i))))
		a.Failed()
	}
	if d := th.GlobalDelay(); d != th.GlobalMax {
		t.Errorf("130 failures: delay %v, want %v", d, th.GlobalMax)
	}
	now = now.Add(10 * time.Minute)
	if d := th.GlobalDelay(); d != 0 {
		t.Errorf("10 quiet minutes later: delay %v, want 0", d)
	}
}

func TestKeyOf(t *testing.T) {
	if KeyOf("ab", "c") == KeyOf("a", "bc") || KeyOf("a") != KeyOf("a") {
		t.Error("KeyOf does not separate its parts")
	}
}

// sessionsAt is a Sessions whose clock reads *now (the test moves it).
func sessionsAt(now *time.Time) *Sessions {
	ss := NewSessions()
	ss.Now = func() time.Time { return *now }
	return ss
}

func TestSessionsExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	ss := sessionsAt(&now)
	se := ss.Create("u")
	if _, ok := ss.Get(se.Token); !ok {
		t.Fatal("new session missing")
	}
	if !se.CheckCSRF(se.CSRF) || se.CheckCSRF("") || se.CheckCSRF(se.CSRF+"x") {
		t.Error("CSRF check wrong")
	}
	now = now.Add(ss.Idle + time.Second)
	if _, ok := ss.Get(se.Token); ok {
		t.Error("idle session still valid")
	}
	se = ss.Create("u")
	for i := 0; i < 13; i++ {
		now = now.Add(time.Hour)
		ss.Get(se.Token)
	}
	if _, ok := ss.Get(se.Token); ok {
		t.Error("session older than Max still valid")
	}
	se = ss.Create("u")
	ss.DeleteUser("u")
	if _, ok := ss.Get(se.Token); ok {
		t.Error("DeleteUser left a session")
	}
}

// Every way a session ends closes its Done channel (what live streams wait on).
func TestSessionDoneOnEveryEnd(t *testing.T) {
	now := time.Unix(1000, 0)
	ss := sessionsAt(&now)
	closed := func(se Session) bool {
		select {
		case <-se.Done():
			return true
		default:
			return false
		}
	}
	a, b, c := ss.Create("u"), ss.Create("u"), ss.Create("v")
	if closed(a) {
		t.Fatal("new session already done")
	}
	ss.DeleteUserExcept("u", a.Token)
	if closed(a) || !closed(b) || closed(c) {
		t.Errorf("DeleteUserExcept: kept %v ended %v other user %v", !closed(a), closed(b), closed(c))
	}
	ss.Delete(a.Token)
	if !closed(a) {
		t.Error("Delete (logout) did not end the session")
	}
	ss.Delete(a.Token) // twice: no panic
	d := ss.Create("w")
	now = now.Add(ss.Idle + time.Second)
	ss.Expire()
	if !closed(d) || !closed(c) {
		t.Error("Expire did not end idle sessions")
	}
}

func TestSetupCode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "setup-code.txt")
	var console strings.Builder
	c, err := NewSetupCode(path, true, &console)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	code := strings.TrimSpace(string(b))
	if len(code) != 14 || !strings.Contains(console.String(), code) {
		t.Fatalf("code %q not written to file and console (%q)", code, console.String())
	}
	if c.Check("AAAA-BBBB-CCCC") || c.Check("") {
		t.Error("wrong code accepted")
	}
	if !c.Check(strings.ToLower(strings.ReplaceAll(code, "-", " "))) {
		t.Error("code typed in lower case with spaces refused")
	}
	c.Use()
	if c.Active() || c.Check(code) {
		t.Error("used code still works")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("used code's file remains")
	}
	c2, _ := NewSetupCode(path, false, &console)
	if c2.Active() {
		t.Error("code active when setup is not needed")
	}
}

func TestSessionsPerUserBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	ss := sessionsAt(&now)
	first := ss.Create("u")
	other := ss.Create("v")
	for i := 0; i < 1000; i++ {
		now = now.Add(time.Second)
		ss.Create("u")
	}
	n := 0
	for _, se := range ss.m {
		if se.User == "u" {
			n++
		}
	}
	if n != MaxSessionsPerUser {
		t.Errorf("%d sessions of one user, want %d", n, MaxSessionsPerUser)
	}
	if _, ok := ss.Get(first.Token); ok {
		t.Error("the least recently used session was kept")
	}
	if _, ok := ss.Get(other.Token); !ok {
		t.Error("another user's session ended")
	}
}

// TestRememberedSessions: "Ghi nhớ đăng nhập" lives 30 days past the 12 h
// limit, survives a restart through Path without the token in the file,
// is listed and ended by its ID by its own user only.
func TestRememberedSessions(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "sessions.json")
	s := NewSessions()
	s.Now, s.Path = clock, path
	kept := s.CreateWith("an", true, "Mozilla/5.0 (Linux; Android 14)")
	plain := s.Create("an")
	other := s.CreateWith("binh", true, "")
	if b, _ := os.ReadFile(path); len(b) == 0 || strings.Contains(string(b), kept.Token) || !strings.Contains(string(b), tokenHash(kept.Token)) {
		t.Fatalf("sessions file holds the token or not its hash: %s", b)
	}
	now = now.Add(13 * time.Hour)
	if _, ok := s.Get(plain.Token); ok {
		t.Error("a plain session outlived 12 h")
	}
	if _, ok := s.Get(kept.Token); !ok {
		t.Fatal("a remembered session ended after 13 h")
	}
	// A restart: a new table loads the file; the cookie's token still works.
	s2 := NewSessions()
	s2.Now, s2.Path = clock, path
	if err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	got, ok := s2.Get(kept.Token)
	if !ok || got.User != "an" || got.CSRF != kept.CSRF || got.Token != kept.Token || !got.Remember {
		t.Fatalf("after restart: %+v %v", got, ok)
	}
	if l := s2.List("an"); len(l) != 1 || l[0].ID != kept.ID() || l[0].Agent != "Mozilla/5.0 (Linux; Android 14)" {
		t.Errorf("list: %+v", l)
	}
	if s2.EndID("binh", kept.ID()) {
		t.Error("binh ended an's session")
	}
	done := got.Done()
	if !s2.EndID("an", kept.ID()) {
		t.Fatal("EndID of own session failed")
	}
	select {
	case <-done:
	default:
		t.Error("ending by ID did not close the session's Done")
	}
	if _, ok := s2.Get(kept.Token); ok {
		t.Error("ended session still works")
	}
	s3 := NewSessions()
	s3.Now, s3.Path = clock, path
	s3.Load()
	if _, ok := s3.Get(kept.Token); ok {
		t.Error("ended session came back after a restart")
	}
	if _, ok := s3.Get(other.Token); !ok {
		t.Error("binh's remembered session lost")
	}
	now = now.Add(RememberFor)
	if _, ok := s3.Get(other.Token); ok {
		t.Error("a remembered session outlived 30 days")
	}
}
