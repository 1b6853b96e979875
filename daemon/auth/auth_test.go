package auth

import (
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
	u, err := s2.Authenticate("nha-a", "long enough pw")
	if err != nil || u.Household != "h1" || u.Role != Household {
		t.Errorf("Authenticate after reopen: %+v, %v", u, err)
	}
	if _, err := s2.Authenticate("nha-a", "wrong password"); err == nil {
		t.Error("wrong password accepted")
	}
	if _, err := s2.Authenticate("ghost", "long enough pw"); err == nil {
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
	for i := 1; i < th.Free; i++ {
		if d := th.Fail("u"); d != 0 {
			t.Fatalf("failure %d locked for %v", i, d)
		}
	}
	if d := th.Fail("u"); d != 30*time.Second {
		t.Errorf("5th failure locks %v, want 30s", d)
	}
	if th.Check("u") == 0 || th.Check("other") != 0 {
		t.Error("lock does not hold or leaks to another key")
	}
	if d := th.Fail("u"); d != time.Minute {
		t.Errorf("6th failure locks %v, want 1m", d)
	}
	for i := 0; i < 20; i++ {
		th.Fail("u")
	}
	if d := th.Check("u"); d != 15*time.Minute {
		t.Errorf("lock grows to %v, want the 15m cap", d)
	}
	now = now.Add(16 * time.Minute)
	if th.Check("u") != 0 {
		t.Error("lock did not expire")
	}
	th.Success("u")
	if d := th.Fail("u"); d != 0 {
		t.Errorf("after success, first failure locks %v", d)
	}
}

func TestSessionsExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	ss := NewSessions()
	ss.Now = func() time.Time { return now }
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
