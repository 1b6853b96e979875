package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/hwtest/fedtest"
	"github.com/matthan/matthan/hwtest/testenv"
)

// fakeBoxClips is a box's clip side for these tests: a real MP4 (made by
// ffmpeg once) signed with a real box key through evidence.Sign, and an
// audit list. webadmin/box has the real one over the signed export.
type fakeBoxClips struct {
	t        testing.TB
	src      string
	boxKey   ed25519.PrivateKey
	district ed25519.PublicKey
	shared   map[string]bool
	work     string

	mu    sync.Mutex
	audit []string
}

func (f *fakeBoxClips) DistrictKey() string { return base64.StdEncoding.EncodeToString(f.district) }
func (f *fakeBoxClips) WorkDir() string     { return f.work }
func (f *fakeBoxClips) Shared(cam string) (bool, bool) {
	s, ok := f.shared[cam]
	return ok, s
}
func (f *fakeBoxClips) Audit(actor, action, camera, detail string) {
	f.mu.Lock()
	f.audit = append(f.audit, action+" "+actor+" "+camera+" "+detail)
	f.mu.Unlock()
}
func (f *fakeBoxClips) audits() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.audit, "\n")
}

func (f *fakeBoxClips) MakeClip(ctx context.Context, job ClipJob) (ClipFiles, error) {
	file := job.Camera + "_clip.mp4"
	data, err := os.ReadFile(f.src)
	if err != nil {
		return ClipFiles{}, err
	}
	out := ClipFiles{File: file, Clip: filepath.Join(job.Dir, file), Manifest: filepath.Join(job.Dir, "manifest.json"), Sig: filepath.Join(job.Dir, "manifest.sig")}
	if err := os.WriteFile(out.Clip, data, 0o600); err != nil {
		return out, err
	}
	f.Audit(job.Actor, "export", job.Camera, "")
	sum := sha256.Sum256(data)
	iv := evidence.Interval{From: job.From, To: job.To}
	_, mb, sig, err := evidence.Sign(f.boxKey, evidence.Manifest{Camera: job.Camera, CameraName: job.Camera, Requested: iv,
		Intervals: []evidence.Interval{iv}, ExportedBy: job.Actor, Role: "district", Created: time.Now(), File: file,
		Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return out, err
	}
	os.WriteFile(out.Manifest, mb, 0o600)
	os.WriteFile(out.Sig, []byte(sig+"\n"), 0o600)
	return out, nil
}

func makeTestClip(t testing.TB, dir string, secs int) string { return fedtest.MakeClip(t, dir, secs) }

func newFakeClips(t testing.TB, src string, district ed25519.PublicKey) *fakeBoxClips {
	_, boxKey, _ := ed25519.GenerateKey(nil)
	return &fakeBoxClips{t: t, src: src, boxKey: boxKey, district: district, work: t.TempDir(),
		shared: map[string]bool{"road1": true, "indoor": false}}
}

// TestClipFetchAndRefusals: the district fetches a shared camera's clip
// through the box's bucket, it plays under ffprobe and its manifest
// verifies against the box key; a camera not shared, an unsigned request
// and one signed with another key are refused, and all of it is in the
// box's audit log.
func TestClipFetchAndRefusals(t *testing.T) {
	ffprobe := testenv.LookTool(t, "ffprobe", "ffmpeg")
	_, d, _, clips := clipWorld(t, "ya", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	to := time.Now().Add(-time.Minute)
	fc, err := d.FetchClip(ctx, "Trung úy Lê", "ya", "road1", to.Add(-time.Minute), to)
	if err != nil {
		t.Fatal(err)
	}
	if !fc.Report.OK() {
		t.Fatalf("manifest does not verify: %+v", fc.Report)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", filepath.Join(fc.Dir, fc.File)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "100" {
		t.Fatalf("ffprobe of the fetched clip: %v %q, want 100 frames", err, out)
	}
	if got := d.Clips(); len(got) != 1 || !got[0].Report.OK() || got[0].Box != "ya" {
		t.Fatalf("district's clips: %+v", got)
	}

	// Refusals.
	if _, err := d.FetchClip(ctx, "Trung úy Lê", "ya", "indoor", to.Add(-time.Minute), to); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), RefuseNotShared) {
		t.Fatalf("unshared camera: %v", err)
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	for _, tt := range []struct {
		name string
		req  ClipRequest
		want string
	}{
		{"unsigned", ClipRequest{ID: strings.Repeat("a", 32), Box: "ya", Officer: "x", Camera: "road1", From: to.Add(-time.Minute), To: to, Issued: time.Now()}, RefuseSignature},
		{"other key", SignClipRequest(otherKey, ClipRequest{ID: strings.Repeat("b", 32), Box: "ya", Officer: "x", Camera: "road1", From: to.Add(-time.Minute), To: to, Issued: time.Now()}), RefuseSignature},
		{"stale", SignClipRequest(d.key, ClipRequest{ID: strings.Repeat("c", 32), Box: "ya", Officer: "x", Camera: "road1", From: to.Add(-time.Minute), To: to, Issued: time.Now().Add(-time.Hour)}), RefuseStale},
		{"other box", SignClipRequest(d.key, ClipRequest{ID: strings.Repeat("d", 32), Box: "yb", Officer: "x", Camera: "road1", From: to.Add(-time.Minute), To: to, Issued: time.Now()}), RefuseBadRequest},
	} {
		rep := rawRequest(t, d, "ya", tt.req)
		if rep.OK || rep.Error != tt.want {
			t.Errorf("%s: reply %+v, want refusal %s", tt.name, rep, tt.want)
		}
	}
	// Tampered after signing.
	r := SignClipRequest(d.key, ClipRequest{ID: strings.Repeat("e", 32), Box: "ya", Officer: "x", Camera: "road1", From: to.Add(-time.Minute), To: to, Issued: time.Now()})
	r.Camera = "indoor"
	if rep := rawRequest(t, d, "ya", r); rep.OK || rep.Error != RefuseSignature {
		t.Errorf("tampered: %+v", rep)
	}
	a := clips.audits()
	for _, want := range []string{AuditRequest + " district:Trung úy Lê road1", AuditUpload + " district:Trung úy Lê road1", AuditRefused + " district:Trung úy Lê indoor", RefuseSignature, RefuseStale} {
		if !strings.Contains(a, want) {
			t.Errorf("box audit log lacks %q:\n%s", want, a)
		}
	}
}

func rawRequest(t *testing.T, d *District, box string, req ClipRequest) ClipReply {
	t.Helper()
	data, _ := jsonMarshal(req)
	m, err := d.nc.Request(ExportSubject(box), data, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep ClipReply
	if err := jsonUnmarshal(m.Data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

var _ = io.EOF

// clipWorld is a NATS server with the district and box id, whose clips
// are cut from one of secs seconds; the district trusts the box's key.
func clipWorld(t testing.TB, id string, secs int) (*testServer, *District, *testBox, *fakeBoxClips) {
	src := makeTestClip(t, t.TempDir(), secs)
	ts := newServer(t, id)
	d := ts.openDistrict(t)
	dk, _ := base64.StdEncoding.DecodeString(d.PublicKey())
	clips := newFakeClips(t, src, ed25519.PublicKey(dk))
	b := openTestBox(t, ts, id, t.TempDir(), clips)
	if err := d.Trust(id, fingerprintOf(clips)); err != nil {
		t.Fatal(err)
	}
	return ts, d, b, clips
}

func fingerprintOf(f *fakeBoxClips) string {
	return evidence.Fingerprint(f.boxKey.Public().(ed25519.PublicKey))
}
