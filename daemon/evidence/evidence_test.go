package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoadOrCreateKeyKeepsOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web", KeyFile)
	// Several processes starting at once (daemon and self-test) end with
	// the same key, the one on disk.
	keys := make([]ed25519.PrivateKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	again, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if !again.Equal(k) {
			t.Errorf("caller %d got a key that is not the one on disk", i)
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", st.Mode(), err)
	}
	pubPEM, err := os.ReadFile(PubPath(path))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil || !pub.Equal(again.Public()) {
		t.Errorf("public key file %q: %v", pubPEM, err)
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Error("a damaged key was replaced or accepted; it must be an error")
	}
}

func TestFingerprint(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	fp := Fingerprint(pub)
	sum := sha256.Sum256(pub)
	if strings.ReplaceAll(fp, "-", "") != strings.ToUpper(hex.EncodeToString(sum[:])) || len(fp) != 79 {
		t.Fatalf("fingerprint %q", fp)
	}
	for _, s := range []string{fp, strings.ToLower(fp), strings.ReplaceAll(fp, "-", " "), strings.ReplaceAll(fp, "-", ":"), strings.ReplaceAll(fp, "-", "")} {
		tr, err := TrustFingerprint(s)
		if err != nil || !tr.Trusts(pub) || tr.Fingerprint() != fp {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", fp[:40], fp + "-00", strings.Replace(fp, fp[:1], "G", 1)} {
		if _, err := TrustFingerprint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestGaps(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	iv := func(a, b float64) Interval { return Interval{at(a), at(b)} }
	for _, tt := range []struct {
		name    string
		covered []Interval
		want    []Interval
	}{
		{"full", []Interval{iv(-1.5, 600)}, nil},
		{"starts late (recording began 82 s before the end)", []Interval{iv(518, 600)}, []Interval{iv(0, 518)}},
		{"hole in the middle", []Interval{iv(0, 100), iv(131, 600)}, []Interval{iv(100, 131)}},
		{"ends early, short tail ignored", []Interval{iv(0, 599.5)}, nil},
		{"ends early", []Interval{iv(0, 590)}, []Interval{iv(590, 600)}},
		{"nothing", nil, []Interval{iv(0, 600)}},
	} {
		got := Gaps(iv(0, 600), tt.covered, GapThreshold)
		if len(got) != len(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if !got[i].From.Equal(tt.want[i].From) || !got[i].To.Equal(tt.want[i].To) {
				t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			}
		}
	}
}

func TestIntersect(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	iv := func(a, b int) Interval {
		return Interval{t0.Add(time.Duration(a) * time.Second), t0.Add(time.Duration(b) * time.Second)}
	}
	for _, tt := range []struct {
		name  string
		a, b  Interval
		want  Interval
		empty bool
	}{
		{"inside", iv(10, 20), iv(0, 30), iv(10, 20), false},
		{"around", iv(0, 30), iv(10, 20), iv(10, 20), false},
		{"overlaps the start", iv(0, 15), iv(10, 20), iv(10, 15), false},
		{"overlaps the end", iv(15, 30), iv(10, 20), iv(15, 20), false},
		{"touching", iv(0, 10), iv(10, 20), iv(10, 10), true},
		{"apart", iv(0, 5), iv(10, 20), iv(10, 5), true},
	} {
		got := tt.a.Intersect(tt.b)
		if !got.From.Equal(tt.want.From) || !got.To.Equal(tt.want.To) || got.To.After(got.From) == tt.empty {
			t.Errorf("%s: %v ∩ %v = %v, want %v (empty %v)", tt.name, tt.a, tt.b, got, tt.want, tt.empty)
		}
	}
}

// export makes a signed export of clip as the box would.
func export(t testing.TB, key ed25519.PrivateKey, clip []byte) (Manifest, []byte, []byte) {
	t.Helper()
	sum := sha256.Sum256(clip)
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	req := Interval{t0, t0.Add(10 * time.Minute)}
	cov := []Interval{{t0.Add(8 * time.Minute), t0.Add(10 * time.Minute)}}
	loc, err := Zone("")
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Camera: "cam1", CameraName: "Cổng", Requested: req, Intervals: cov, Gaps: Gaps(req, cov, GapThreshold),
		ExportedBy: "canbo", Role: "officer", Created: t0.Add(11 * time.Minute), File: "cam1.mp4",
		Bytes: int64(len(clip)), SHA256: hex.EncodeToString(sum[:]), AuditSeq: 7, Audit: AuditHead{7, strings.Repeat("ab", 32)}}.InZone(loc)
	m, mb, sig, err := Sign(key, m)
	if err != nil {
		t.Fatal(err)
	}
	return m, mb, []byte(sig + "\n")
}

func TestVerify(t *testing.T) {
	_, box, _ := ed25519.GenerateKey(rand.Reader)
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	trust := TrustKey(box.Public().(ed25519.PublicKey))
	clip := bytes.Repeat([]byte("ftypisom-moof-mdat-"), 500)
	m, mb, sig := export(t, box, clip)
	if !strings.Contains(string(mb), `"from": "2026-12-06T10:00:00+07:00"`) || m.TimeZone != DefaultZoneName {
		t.Errorf("manifest times not in the box's zone:\n%s", mb)
	}
	flipped := append([]byte(nil), clip...)
	flipped[len(flipped)/2] ^= 1
	_, fmb, fsig := export(t, forger, flipped)
	edited := bytes.Replace(mb, []byte(`"exportedBy": "canbo"`), []byte(`"exportedBy": "khac1"`), 1)

	for _, tt := range []struct {
		name     string
		mb, sig  []byte
		clip     []byte
		want     error
		wantRest bool // the other checks pass
	}{
		{"good", mb, sig, clip, nil, true},
		{"flipped byte", mb, sig, flipped, ErrClipHash, false},
		{"truncated clip", mb, sig, clip[:len(clip)-1], ErrClipSize, false},
		{"forger's manifest and clip signed with the forger's key", fmb, fsig, flipped, ErrUntrustedKey, false},
		{"edited manifest", edited, sig, clip, ErrBadSignature, false},
		{"signature of another manifest", mb, fsig, clip, ErrBadSignature, false},
	} {
		rep, err := Verify(tt.mb, tt.sig, bytes.NewReader(tt.clip), trust)
		switch {
		case tt.want == nil && (err != nil || !rep.OK()):
			t.Errorf("%s: %v %+v", tt.name, err, rep)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		case tt.want != nil && rep.OK():
			t.Errorf("%s: report says OK", tt.name)
		}
	}
	// The forger's export verifies against the forger's own key — which is
	// why the key must come from the box, never from the manifest.
	if _, err := Verify(fmb, fsig, bytes.NewReader(flipped), TrustKey(forger.Public().(ed25519.PublicKey))); err != nil {
		t.Errorf("forger's export under the forger's key: %v", err)
	}
}

func TestParseManifestRefuses(t *testing.T) {
	_, box, _ := ed25519.GenerateKey(rand.Reader)
	_, mb, _ := export(t, box, []byte("clip"))
	for _, tt := range []struct{ name, from, to string }{
		{"version 1", `"version": 2`, `"version": 1`},
		{"no intervals", `"intervals": [`, `"intervalsX": [`},
		{"bad hash", `"sha256": "`, `"sha256": "zz`},
		{"path in file", `"file": "cam1.mp4"`, `"file": "../cam1.mp4"`},
		{"empty clip", `"bytes": 4`, `"bytes": 0`},
		{"trailing data", "}\n", "} {}"},
	} {
		b := []byte(strings.Replace(string(mb), tt.from, tt.to, 1))
		if string(b) == string(mb) {
			t.Fatalf("%s: replacement did not apply", tt.name)
		}
		if _, err := ParseManifest(b); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	_, box, _ := ed25519.GenerateKey(rand.Reader)
	_, mb, sig := export(f, box, []byte("clip"))
	f.Add(mb, sig, []byte("clip"))
	f.Add([]byte(`{"version":2}`), []byte("x"), []byte{})
	f.Add([]byte(`[]`), sig, []byte("clip"))
	trust := TrustKey(box.Public().(ed25519.PublicKey))
	f.Fuzz(func(t *testing.T, manifest, sig, clip []byte) {
		m, err := ParseManifest(manifest)
		if err == nil && len(m.Intervals) == 0 {
			t.Fatal("manifest without intervals accepted")
		}
		rep, err := Verify(manifest, sig, bytes.NewReader(clip), trust)
		if err == nil && !rep.OK() {
			t.Fatal("no error but not OK")
		}
		if err == nil && !bytes.Equal(manifest, mb) {
			t.Fatalf("a manifest the box did not sign verified:\n%s", manifest)
		}
	})
}

func FuzzParseKeyAndFingerprint(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	f.Add(string(PublicKeyPEM(pub)))
	f.Add(Fingerprint(pub))
	f.Add("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n")
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParsePublicKey([]byte(s)); err == nil && len(k) != ed25519.PublicKeySize {
			t.Fatalf("key of %d bytes accepted", len(k))
		}
		if tr, err := TrustFingerprint(s); err == nil {
			if _, err := ParseFingerprint(tr.Fingerprint()); err != nil {
				t.Fatalf("fingerprint %q does not read back: %v", tr.Fingerprint(), err)
			}
		}
	})
}

// A manifest states what was recorded with an unsynchronised clock; a
// manifest without the field (the clock synchronised throughout, or made
// before the box knew) still reads, and a reversed interval does not.
func TestManifestClockUnsynced(t *testing.T) {
	_, box, _ := ed25519.GenerateKey(rand.Reader)
	clip := []byte("clip")
	m, mb, _ := export(t, box, clip)
	if strings.Contains(string(mb), "clockUnsynced") {
		t.Errorf("a synchronised export names clockUnsynced:\n%s", mb)
	}
	loc, _ := Zone("")
	m.ClockUnsynced = []Interval{{m.Intervals[0].From.UTC(), m.Intervals[0].From.Add(time.Minute).UTC()}}
	m = m.InZone(loc)
	_, mb, _, err := Sign(box, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseManifest(mb)
	if err != nil || len(got.ClockUnsynced) != 1 || !got.ClockUnsynced[0].From.Equal(m.Intervals[0].From) {
		t.Fatalf("parse: %v %+v\n%s", err, got.ClockUnsynced, mb)
	}
	if !strings.Contains(string(mb), `"clockUnsynced": [`) || !strings.Contains(string(mb), "+07:00") {
		t.Errorf("manifest:\n%s", mb)
	}
	m.ClockUnsynced = []Interval{{m.Intervals[0].To, m.Intervals[0].From}}
	if _, _, _, err := Sign(box, m); err == nil {
		t.Error("a reversed unsynchronised interval was signed")
	}
}
