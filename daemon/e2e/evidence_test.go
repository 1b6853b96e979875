package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/hwtest/testenv"
)

var boxKeyRE = regexp.MustCompile(`evidence key fingerprint: ((?:[0-9A-F]{4}-){15}[0-9A-F]{4})`)

// TestExportStatesGapsAndVerifies records a simulated camera that goes
// offline for 8 s, exports a range that starts before the recording and
// spans the outage, and checks: the manifest states the intervals the file
// holds and the gaps (ffprobe's duration and frame count agree with it),
// the audit log holds the export and the manifest its chain head, and
// matthan-verify, run as a real process, accepts the export under the
// fingerprint the daemon printed and refuses a flipped byte, a forger's key
// and a wrong fingerprint. A range without recording is refused.
func TestExportStatesGapsAndVerifies(t *testing.T) {
	t.Parallel()
	testenv.LookTool(t, "ffprobe", "ffmpeg")
	sim := startCamsim(t, 1)
	data := t.TempDir()
	d := startDaemon(t, data, freePort(t), nil, cameraArgs(sim, "cam1")...)
	ctx := context.Background()
	fp := ""
	if m := boxKeyRE.FindStringSubmatch(d.output()); m != nil {
		fp = m[1]
	}
	var sys struct{ BoxKeyFingerprint, BoxKeyURL string }
	if err := d.client.GetJSON(ctx, "/api/system", &sys); err != nil {
		t.Fatal(err)
	}
	if fp == "" || sys.BoxKeyFingerprint != fp {
		t.Fatalf("console fingerprint %q, system page %q", fp, sys.BoxKeyFingerprint)
	}

	t0 := time.Now()
	d.waitRecording(t, t0, 15*time.Second, "cam1")
	time.Sleep(6 * time.Second)
	tOff := time.Now()
	sim.fault(t, "cam1", "offline?for=8s")
	d.waitRecording(t, tOff.Add(8*time.Second), 30*time.Second, "cam1")
	time.Sleep(6 * time.Second)

	// From a minute before the daemon started to a second ago.
	from, to := t0.Add(-time.Minute).Truncate(time.Second), time.Now().Add(-time.Second)
	ex, err := d.client.Export(ctx, "cam1", from, to)
	if err != nil {
		t.Fatal(err)
	}
	m, err := evidence.ParseManifest(ex.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("intervals %v gaps %v", m.Intervals, m.Gaps)
	if !m.Requested.From.Equal(from) || !m.Requested.To.Equal(to.Round(time.Millisecond)) {
		t.Errorf("requested %v, want %v..%v", m.Requested, from, to)
	}
	if _, off := m.Requested.From.Zone(); off != 7*3600 || !strings.Contains(string(ex.Manifest), "+07:00") {
		t.Errorf("manifest times not at the box's offset +07:00:\n%s", ex.Manifest)
	}
	// Two stretches of video around the outage; the gaps are the minute
	// before the recording and the outage (8 s, plus the reconnection).
	if len(m.Intervals) != 2 || len(m.Gaps) != 2 {
		t.Fatalf("want 2 intervals and 2 gaps:\n%s", ex.Manifest)
	}
	lead, hole := m.Gaps[0], m.Gaps[1]
	if !lead.From.Equal(m.Requested.From) || !lead.To.Equal(m.Intervals[0].From) || lead.Duration() < time.Minute-2*time.Second {
		t.Errorf("leading gap %v, want from the requested start to the first picture", lead)
	}
	if !hole.From.Equal(m.Intervals[0].To) || !hole.To.Equal(m.Intervals[1].From) || hole.Duration() < 7*time.Second || hole.Duration() > 30*time.Second {
		t.Errorf("outage gap %v (%v), want 8 s and the reconnection, between the intervals", hole, hole.Duration())
	}
	if d := hole.From.Sub(tOff); d < -time.Second || d > time.Second {
		t.Errorf("outage gap starts %v after the fault, want about 0", d)
	}
	// The last picture starts before the requested end; its duration may
	// reach a frame past it.
	if d := to.Sub(m.Intervals[1].To); d < -100*time.Millisecond || d > 2*time.Second {
		t.Errorf("last interval ends %v before the requested end", d)
	}

	// The file holds what the manifest says: ffprobe's span is the first
	// interval's start to the last one's end, and its pictures fill the
	// intervals (25 fps), not the gap.
	clip := filepath.Join(t.TempDir(), ex.File)
	if err := os.WriteFile(clip, ex.Clip, 0o600); err != nil {
		t.Fatal(err)
	}
	p := judge(t, clip)
	span := m.Intervals[1].To.Sub(m.Intervals[0].From).Seconds()
	held := (m.Intervals[0].Duration() + m.Intervals[1].Duration()).Seconds()
	t.Logf("ffprobe: %.3f s, %d frames; manifest span %.3f s, holds %.3f s", p.duration, p.frames, span, held)
	if p.duration < span-0.08 || p.duration > span+0.08 {
		t.Errorf("ffprobe duration %.3f s, manifest span %.3f s (want within two frames)", p.duration, span)
	}
	if float64(p.frames) > held*25+2 || float64(p.frames) < 0.8*held*25 {
		t.Errorf("%d frames in %.3f s of intervals, want about %d", p.frames, held, int(held*25))
	}

	// The export is in the audit log, and the manifest carries the head.
	var aud struct {
		Records []struct {
			Seq    uint64
			Hash   string
			Detail string
		}
	}
	if err := d.client.GetJSON(ctx, "/api/audit?action=export", &aud); err != nil {
		t.Fatal(err)
	}
	if len(aud.Records) != 1 || aud.Records[0].Seq != m.AuditSeq || m.Audit.Seq < m.AuditSeq || (m.Audit.Seq == m.AuditSeq && m.Audit.Hash != aud.Records[0].Hash) {
		t.Errorf("audit %+v, manifest seq %d head %+v", aud.Records, m.AuditSeq, m.Audit)
	}

	// Nothing recorded in the range: an error, not an empty signed file.
	if _, err := d.client.Export(ctx, "cam1", t0.Add(-2*time.Hour), t0.Add(-time.Hour)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("export of a range without recording: %v, want 404", err)
	}

	// matthan-verify on this PC, with the fingerprint the console printed.
	bin := testenv.BuildCommand(t, "./daemon/cmd/matthan-verify", "CGO_ENABLED=0")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodClip, goodManifest := write("good/"+ex.File, ex.Clip), write("good/manifest.json", ex.Manifest)
	write("good/manifest.sig", ex.Signature)
	flipped := append([]byte(nil), ex.Clip...)
	flipped[len(flipped)*2/3] ^= 0x01
	flipClip := write("flipped.mp4", flipped)
	// A forger signs the edited clip's manifest with a key of their own.
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	fm := m
	fm.Bytes, fm.SHA256 = int64(len(flipped)), sha256Hex(flipped)
	_, fmb, fsig, err := evidence.Sign(forger, fm)
	if err != nil {
		t.Fatal(err)
	}
	forgedManifest := write("forged/manifest.json", fmb)
	write("forged/manifest.sig", []byte(fsig+"\n"))
	resp, err := d.client.Do(ctx, http.MethodGet, sys.BoxKeyURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pemFile := write("box.pem", pem)

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"good", []string{goodClip, goodManifest, "--key", fp}, 0, "KHOẢNG TRỐNG / GAP"},
		{"good, downloaded public key", []string{goodClip, goodManifest, "--key", pemFile}, 0, "HỢP LỆ / VALID"},
		{"flipped byte", []string{flipClip, goodManifest, "--key", fp}, 1, "[SAI / FAIL] SHA-256"},
		{"forger's key", []string{flipClip, forgedManifest, "--key", fp}, 1, "[SAI / FAIL] Bản kê ký bằng khoá tin cậy"},
		{"wrong fingerprint", []string{goodClip, goodManifest, "--key", evidence.Fingerprint(forger.Public().(ed25519.PublicKey))}, 1, "KHÔNG HỢP LỆ / NOT VALID"},
	} {
		out, err := exec.Command(bin, tt.args...).CombinedOutput()
		code := testenv.ExitCode(t, err)
		if code != tt.code || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: exit %d (want %d), output lacks %q?\n%s", tt.name, code, tt.code, tt.want, out)
		}
		if tt.name == "good" {
			t.Logf("matthan-verify:\n%s", out)
		}
	}

	d.stop(t, syscall.SIGTERM, 5*time.Second)
	d.checkNoPanic(t)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
