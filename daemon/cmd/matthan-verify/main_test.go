package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/hwtest/testenv"
)

// build builds matthan-verify into dir, pure Go and static as for a PC.
func build(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "matthan-verify")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeExport writes clip, manifest.json and manifest.sig as the box
// hands them out, signed with key.
func writeExport(t *testing.T, dir string, key ed25519.PrivateKey, clip []byte) (clipPath, manifestPath string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(clip)
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	req := evidence.Interval{From: t0, To: t0.Add(10 * time.Minute)}
	cov := []evidence.Interval{{From: t0, To: t0.Add(4 * time.Minute)}, {From: t0.Add(5 * time.Minute), To: t0.Add(10 * time.Minute)}}
	loc, _ := evidence.Zone("")
	m := evidence.Manifest{Camera: "cam1", CameraName: "Cổng", Requested: req, Intervals: cov, Gaps: evidence.Gaps(req, cov, evidence.GapThreshold),
		ExportedBy: "canbo", Role: "officer", Created: t0.Add(11 * time.Minute), File: "cam1.mp4",
		Bytes: int64(len(clip)), SHA256: hex.EncodeToString(sum[:]), AuditSeq: 3, Audit: evidence.AuditHead{Seq: 3, Hash: strings.Repeat("0f", 32)},
		ClockUnsynced: []evidence.Interval{{From: t0, To: t0.Add(time.Minute)}}}.InZone(loc)
	_, mb, sig, err := evidence.Sign(key, m)
	if err != nil {
		t.Fatal(err)
	}
	clipPath, manifestPath = filepath.Join(dir, "cam1.mp4"), filepath.Join(dir, "manifest.json")
	for p, b := range map[string][]byte{clipPath: clip, manifestPath: mb, filepath.Join(dir, "manifest.sig"): []byte(sig + "\n")} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return clipPath, manifestPath
}

func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	bin := build(t, dir)
	box, err := evidence.LoadOrCreateKey(filepath.Join(dir, "box", evidence.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	fp := evidence.Fingerprint(box.Public().(ed25519.PublicKey))
	pubFile := evidence.PubPath(filepath.Join(dir, "box", evidence.KeyFile))
	clip := make([]byte, 200_000)
	rand.Read(clip)
	goodClip, goodManifest := writeExport(t, filepath.Join(dir, "good"), box, clip)
	flipped := append([]byte(nil), clip...)
	flipped[123_456] ^= 0x10
	flipClip := filepath.Join(dir, "flipped.mp4")
	os.WriteFile(flipClip, flipped, 0o600)
	// The forger edits the clip and signs a fresh manifest with a key of
	// their own, which the manifest names.
	forgedClip, forgedManifest := writeExport(t, filepath.Join(dir, "forged"), forger, flipped)
	other := evidence.Fingerprint(forger.Public().(ed25519.PublicKey))

	for _, tt := range []struct {
		name          string
		args          []string
		code          int
		want, wantNot []string
		wantInStderr  string
	}{
		{"good, by fingerprint", []string{goodClip, goodManifest, "--key", fp}, 0,
			[]string{"[ĐẠT / OK]   Bản kê ký bằng khoá tin cậy", "[ĐẠT / OK]   SHA-256", "KHOẢNG TRỐNG / GAP", "10:04:00.000+07:00", "ĐỒNG HỒ CHƯA ĐỒNG BỘ / CLOCK NOT SYNCHRONISED (giờ có thể sai / times may be off): 2026-12-06T10:00:00.000+07:00", "KẾT QUẢ / RESULT: HỢP LỆ / VALID"}, []string{"SAI"}, ""},
		{"good, by public key file, flag first", []string{"--key=" + pubFile, goodClip, goodManifest}, 0,
			[]string{"HỢP LỆ / VALID"}, nil, ""},
		{"good, fingerprint as copied (lower case, spaces)", []string{goodClip, goodManifest, "--key", strings.ToLower(strings.ReplaceAll(fp, "-", " "))}, 0,
			[]string{"HỢP LỆ / VALID"}, nil, ""},
		{"flipped byte", []string{flipClip, goodManifest, "--key", fp}, 1,
			[]string{"[SAI / FAIL] SHA-256 của tệp video / clip SHA-256", "[ĐẠT / OK]   Kích thước", "KHÔNG HỢP LỆ / NOT VALID"}, []string{"Có hình"}, ""},
		{"forged manifest and clip signed with the forger's key", []string{forgedClip, forgedManifest, "--key", fp}, 1,
			[]string{"[SAI / FAIL] Bản kê ký bằng khoá tin cậy", other, "KHÔNG HỢP LỆ / NOT VALID"}, []string{"HỢP LỆ / VALID\n"}, ""},
		{"wrong fingerprint", []string{goodClip, goodManifest, "--key", other}, 1,
			[]string{"[SAI / FAIL] Bản kê ký bằng khoá tin cậy", "KHÔNG HỢP LỆ / NOT VALID"}, nil, ""},
		{"shortened fingerprint", []string{goodClip, goodManifest, "--key", fp[:39]}, 2, nil, nil, "neither a fingerprint"},
		{"no key", []string{goodClip, goodManifest}, 2, nil, nil, "usage"},
		{"missing signature", []string{goodClip, goodManifest, "--key", fp, "--sig", filepath.Join(dir, "nope.sig")}, 2, nil, nil, "cannot read the signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := testenv.ExitCode(t, cmd.Run())
			out := stdout.String()
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
			if tt.wantInStderr != "" && !strings.Contains(stderr.String(), tt.wantInStderr) {
				t.Errorf("stderr lacks %q: %s", tt.wantInStderr, stderr.String())
			}
		})
	}
}
