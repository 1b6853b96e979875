package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/matthan/matthan/hwtest/testenv"
)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// dirSize is the bytes of every file in dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range es {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// lines returns every line of every file of the log, oldest first.
func lines(t *testing.T, path string) [][]byte {
	t.Helper()
	names, _, err := rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, n := range append(names, path) {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
			if len(l) > 0 {
				out = append(out, l)
			}
		}
	}
	return out
}

// TestFieldsCleanedAndCapped: a request value of a megabyte, with control
// and bidi characters, costs a short line that shows none of them.
func TestFieldsCleanedAndCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x\x1b[31m\u202e\n", 1<<18) // 1.5 MB
	r, err := l.Append(Record{Actor: big, Role: big, IP: big, Action: Change, Camera: big, Detail: big})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	b, _ := os.ReadFile(path)
	if len(b) > 2048 {
		t.Errorf("one record of megabyte fields took %d bytes", len(b))
	}
	for _, f := range []string{r.Actor, r.Role, r.IP, r.Camera, r.Detail} {
		if !strings.HasSuffix(f, "…") {
			t.Errorf("cut field does not say so: %.40q", f)
		}
		for _, c := range f {
			if unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) {
				t.Fatalf("field keeps %U: %.40q", c, f)
			}
		}
	}
	if got := clean("héllo\tthere", 8); got != "héll…" || clean(got, 8) != got {
		t.Errorf("clean(héllo\\tthere, 8) = %q (and again %q)", got, clean(got, 8))
	}
}

// TestDenialsAggregated: 10,000 denied requests with 64 KB parameters from
// two sources in one minute write two small lines with their counts.
func TestDenialsAggregated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	c := newClock()
	l, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	param := strings.Repeat("A", 64<<10)
	for i := range 10000 {
		ip := "10.0.0.5"
		if i%2 == 1 {
			ip = "10.0.0.6"
		}
		l.Deny(Record{Actor: "house1", Role: "household", IP: ip, Camera: param, Detail: "GET /api/live?camera=" + param})
	}
	c.Add(time.Minute)
	l.Deny(Record{Actor: "house1", IP: "10.0.0.5", Camera: "cam1", Detail: "GET /live/cam1"})
	if _, err := l.Append(Record{Actor: "officer", Action: Login}); err != nil {
		t.Fatal(err)
	}
	recs, _ := l.Read(Filter{Action: Denied}, 100)
	if len(recs) != 3 {
		t.Fatalf("%d denied records, want 3 (two sources in the first minute, one in the second): %+v", len(recs), recs)
	}
	total := 0
	for _, r := range recs {
		total += r.Count
	}
	if total != 10001 {
		t.Errorf("denied counts add up to %d, want 10001", total)
	}
	l.Close()
	n := dirSize(t, dir)
	if n > 8<<10 {
		t.Errorf("10,001 denials took %d bytes on disk", n)
	}
	t.Logf("10,001 denials with 64 KB parameters: %d lines, %d bytes on disk", len(lines(t, path)), n)
	if v, _ := VerifyFiles(path, nil); !v.OK {
		t.Errorf("verify: %+v", v)
	}
}

// TestDenialsBoundedKeys: denials from many sources in one minute cost at
// most maxDenyKeys+1 lines.
func TestDenialsBoundedKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _ := Open(path)
	for i := range 5000 {
		l.Deny(Record{Actor: "house1", IP: "fd00::" + strings.Repeat("1", i%300)})
	}
	l.Close()
	if n := len(lines(t, path)); n > maxDenyKeys+1 {
		t.Errorf("5000 denials from 300 sources wrote %d lines", n)
	}
}

// TestRotationKeepsBudgetAndChain: the log rotates into numbered files,
// stays inside its budget, says what it pruned, and verifies across
// files and reopenings.
func TestRotationKeepsBudgetAndChain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	pub, priv, _ := ed25519.GenerateKey(nil)
	c := newClock()
	opt := Options{Budget: 32 << 10, Now: c.Now, PublicKey: pub, Sign: func(b []byte) []byte { return ed25519.Sign(priv, b) }}
	l, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	detail := strings.Repeat("d", 300)
	var last Record
	for i := range 1200 {
		if i == 600 { // reopen in the middle
			l.Close()
			if l, err = Open(path, opt); err != nil {
				t.Fatal(err)
			}
		}
		c.Add(2 * time.Minute) // a checkpoint every 30 records
		if last, err = l.Append(Record{Actor: "officer", Action: LiveView, Camera: "cam1", Detail: detail}); err != nil {
			t.Fatal(err)
		}
		if n := dirSize(t, dir); i%10 == 9 && n > opt.Budget+2048 {
			t.Fatalf("after %d records the log takes %d bytes, over its budget of %d", i+1, n, opt.Budget)
		}
	}
	names, _, _ := rotated(path)
	if len(names) < 3 {
		t.Errorf("%d rotated files, want several", len(names))
	}
	v, err := l.Verify()
	if err != nil || !v.OK || v.FirstSeq <= 1 || v.LastSeq < last.Seq || v.Checkpoints == 0 {
		t.Fatalf("verify across files: %+v, %v", v, err)
	}
	// (a checkpoint or a pruned record may follow the last append)
	if seq, hash := l.Head(); seq != v.LastSeq || hash != v.Head {
		t.Errorf("Head() = %d %s, want %d %s", seq, hash, v.LastSeq, v.Head)
	}
	pr, _ := l.Read(Filter{Action: Pruned}, 1)
	if len(pr) != 1 || pr[0].Span == nil || pr[0].Span.To+1 < v.FirstSeq {
		t.Errorf("pruned records %+v, first seq kept %d", pr, v.FirstSeq)
	}
	// Every file but the first starts where the one before it ended.
	ls := lines(t, path)
	var prev Record
	for i, b := range ls {
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if i > 0 && (r.Seq != prev.Seq+1 || r.Prev != prev.Hash) {
			t.Fatalf("record %d does not follow %d across files", r.Seq, prev.Seq)
		}
		prev = r
	}
	l.Close()
	// Deleting the oldest file by hand is not pruning.
	os.Remove(names[0])
	if v, _ := VerifyFiles(path, pub); v.OK {
		t.Errorf("oldest file deleted by hand: verified %+v", v)
	}
}

// signedLog writes n records, one a minute, with a checkpoint at least
// hourly, and closes the log.
func signedLog(t *testing.T, n int) (string, ed25519.PublicKey) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	pub, priv, _ := ed25519.GenerateKey(nil)
	c := newClock()
	l, err := Open(path, Options{Now: c.Now, PublicKey: pub, Sign: func(b []byte) []byte { return ed25519.Sign(priv, b) }})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		c.Add(time.Minute)
		if _, err := l.Append(Record{Actor: "officer", Action: Playback, Camera: "cam1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path, pub
}

// rechain renumbers and rehashes records as someone with the file but not
// the key would after removing some (checkpoints then name the new head,
// with the old signature).
func rechain(recs []Record) []byte {
	var out []byte
	prev := ""
	for i, r := range recs {
		if r.Head != nil {
			h := *r.Head
			h.Seq, h.Hash = uint64(i), prev
			r.Head = &h
		}
		r.Seq, r.Prev = uint64(i+1), prev
		r.Hash = r.digest()
		prev = r.Hash
		b, _ := json.Marshal(r)
		out = append(append(out, b...), '\n')
	}
	return out
}

// TestSignedHeadDetectsTruncationAndRechaining is finding 8: removing the
// last records, or removing middle records and recomputing the chain,
// verified OK.
func TestSignedHeadDetectsTruncationAndRechaining(t *testing.T) {
	path, pub := signedLog(t, 300)
	if v, err := VerifyFiles(path, pub); err != nil || !v.OK || v.Checkpoints < 5 || v.SignedHead != v.LastSeq {
		t.Fatalf("intact signed log: %+v, %v", v, err)
	}
	orig, _ := os.ReadFile(path)
	head, _ := os.ReadFile(headPath(path))
	var recs []Record
	sc := bufio.NewScanner(bytes.NewReader(orig))
	for sc.Scan() {
		var r Record
		json.Unmarshal(sc.Bytes(), &r)
		recs = append(recs, r)
	}
	var plain []Record // the records an attacker would keep: no checkpoints
	for _, r := range recs {
		if r.Action != Checkpoint {
			plain = append(plain, r)
		}
	}
	ls := bytes.SplitAfter(orig, []byte("\n"))
	for _, tt := range []struct {
		name     string
		log      []byte
		dropHead bool
	}{
		{"last 50 records removed", bytes.Join(ls[:len(ls)-51], nil), false},
		{"last 50 records and the head file removed", bytes.Join(ls[:len(ls)-51], nil), true},
		{"64 middle records removed and the chain recomputed", rechain(append(recs[:100:100], recs[164:]...)), false},
		{"64 middle records removed, rechained, head file removed", rechain(append(recs[:100:100], recs[164:]...)), true},
		{"64 middle records and every checkpoint removed, rechained", rechain(append(plain[:100:100], plain[164:]...)), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(path, tt.log, 0o600)
			os.WriteFile(headPath(path), head, 0o600)
			if tt.dropHead {
				os.Remove(headPath(path))
			}
			if v, _ := VerifyFiles(path, pub); v.OK {
				t.Errorf("not detected: %+v", v)
			} else {
				t.Logf("detected: %s", v.Problem)
			}
		})
	}
	// A forged key does not pass either.
	os.WriteFile(path, orig, 0o600)
	os.WriteFile(headPath(path), head, 0o600)
	other, _, _ := ed25519.GenerateKey(nil)
	if v, _ := VerifyFiles(path, other); v.OK {
		t.Errorf("verified against another key: %+v", v)
	}
}

// TestCheckpointOnClose: Close signs the head, and the side file names it.
func TestCheckpointOnClose(t *testing.T) {
	path, pub := signedLog(t, 3)
	h, err := readHeadFile(path)
	if err != nil || !h.Valid(pub) {
		t.Fatalf("head file after close: %+v, %v", h, err)
	}
	r, ok := lastRecord(path)
	if !ok || r.Action != Checkpoint || r.Seq != h.Seq || r.Hash != h.Hash {
		t.Errorf("last record %+v, head %+v", r, h)
	}
}

// TestFullDiskLosesNoChain: on a full disk appends fail, a partly written
// record is cut again (it used to stay and break the chain for good), and
// once there is room a Gap record counts the records that were lost.
func TestFullDiskLosesNoChain(t *testing.T) {
	dir := testenv.Tmpfs(t, "size=256k")
	path := filepath.Join(dir, "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(Record{Actor: "officer", Action: Login}); err != nil {
		t.Fatal(err)
	}
	// Fill the disk but for a few hundred bytes.
	fill := filepath.Join(dir, "fill")
	f, _ := os.Create(fill)
	f.Write(make([]byte, 256<<10))
	f.Close()
	failed := 0
	for range 20 {
		if _, err := l.Append(Record{Actor: "officer", Action: LiveView, Detail: strings.Repeat("x", 400)}); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no append failed on a full disk")
	}
	os.Remove(fill)
	if _, err := l.Append(Record{Actor: "officer", Action: Logout}); err != nil {
		t.Fatal(err)
	}
	v, _ := l.Verify()
	if !v.OK || v.Gaps != 1 {
		t.Fatalf("after a full disk: %+v", v)
	}
	gaps, _ := l.Read(Filter{Action: Gap}, 1)
	if len(gaps) != 1 || gaps[0].Count != failed {
		t.Errorf("gap record %+v, want a count of %d lost records", gaps, failed)
	}
}

// TestOpensOnADiskTooFullToMakeTheFile: the web page (and with it the
// daemon) must start on a disk without a free inode; the records that
// could not be written are counted in a Gap record once they can.
func TestOpensOnADiskTooFullToMakeTheFile(t *testing.T) {
	dir := testenv.Tmpfs(t, "size=1m,nr_inodes=16")
	fillers := testenv.FillInodes(t, dir)
	path := filepath.Join(dir, "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatalf("open on a disk without a free inode: %v", err)
	}
	defer l.Close()
	if _, err := l.Append(Record{Actor: "officer", Action: Login}); err == nil {
		t.Fatal("append without a file succeeded")
	}
	for _, f := range fillers {
		os.Remove(f)
	}
	if _, err := l.Append(Record{Actor: "officer", Action: Logout}); err != nil {
		t.Fatal(err)
	}
	v, _ := l.Verify()
	gaps, _ := l.Read(Filter{Action: Gap}, 1)
	if !v.OK || v.Records != 2 || len(gaps) != 1 || gaps[0].Count != 1 {
		t.Errorf("after the disk had room: %+v, gaps %+v", v, gaps)
	}
}

// TestTornTailOnAFullDisk: a torn tail found when the disk is full is cut
// and the log opens; the gap is recorded with the next write that fits.
func TestTornTailOnAFullDisk(t *testing.T) {
	dir := testenv.Tmpfs(t, "size=256k")
	path := filepath.Join(dir, "audit.log")
	l, _ := Open(path)
	l.Append(Record{Actor: "a", Action: Login})
	l.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte(`{"seq":2,"actor":"a","act`))
	f.Close()
	filler := filepath.Join(dir, "fill")
	ff, _ := os.Create(filler)
	ff.Write(make([]byte, 512<<10))
	ff.Close()
	l, err := Open(path)
	if err != nil {
		t.Fatalf("open with a torn tail on a full disk: %v", err)
	}
	defer l.Close()
	os.Remove(filler)
	if _, err := l.Append(Record{Actor: "b", Action: Login}); err != nil {
		t.Fatal(err)
	}
	if v, _ := l.Verify(); !v.OK || v.Gaps != 1 || v.Records != 3 {
		t.Errorf("after the disk had room: %+v", v)
	}
}

// TestVerifyWhileRotating: Verify does not stop appends, and appends that
// rotate and prune files meanwhile never make it report tampering.
func TestVerifyWhileRotating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	pub, priv, _ := ed25519.GenerateKey(nil)
	l, err := Open(path, Options{Budget: 32 << 10, CheckpointEvery: time.Millisecond, PublicKey: pub, Sign: func(b []byte) []byte { return ed25519.Sign(priv, b) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 300 {
			if _, err := l.Append(Record{Actor: "officer", Action: LiveView, Detail: strings.Repeat("v", 200)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for n := 0; ; n++ {
		select {
		case <-done:
			if n == 0 {
				t.Log("appends finished before the first verify")
			}
			if v, _ := l.Verify(); !v.OK {
				t.Fatalf("after the appends: %+v", v)
			}
			return
		default:
		}
		if v, err := l.Verify(); err != nil || !v.OK {
			t.Fatalf("verify %d while rotating: %+v, %v", n, v, err)
		}
	}
}

// TestDenialTimesAreLocal: the times an aggregated line's detail names are
// in Options.Location (people read them), the record's time stays UTC.
func TestDenialTimesAreLocal(t *testing.T) {
	c := newClock()
	l, err := Open(filepath.Join(t.TempDir(), "audit.log"), Options{Now: c.Now, Location: time.FixedZone("ICT", 7*3600)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	first := c.Now()
	l.Deny(Record{Actor: "house1", IP: "10.0.0.5", Detail: "GET /live/cam2"})
	c.Add(2 * time.Second)
	l.Deny(Record{Actor: "house1", IP: "10.0.0.5", Detail: "GET /live/cam2"})
	recs, _ := l.Read(Filter{Action: Denied}, 10)
	if len(recs) != 1 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	loc := first.In(time.FixedZone("", 7*3600))
	want := "2 times " + loc.Format("15:04:05") + " to " + loc.Add(2*time.Second).Format("15:04:05")
	if !strings.HasPrefix(recs[0].Detail, want) || recs[0].Time.Location() != time.UTC {
		t.Errorf("detail %q (time %v), want it to start with %q", recs[0].Detail, recs[0].Time, want)
	}
}
