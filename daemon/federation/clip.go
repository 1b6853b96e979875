package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/matthan/matthan/daemon/auth"
)

// ClipRequest is the district's request for a clip, signed with the
// district key the technician enrolled on the box (Config.DistrictKey).
type ClipRequest struct {
	ID      string    `json:"id"` // 32 hex digits, names the upload
	Box     string    `json:"box"`
	Officer string    `json:"officer"` // the district officer who asked
	Camera  string    `json:"camera"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Issued  time.Time `json:"issued"`
	// Sig is ed25519 over the request's JSON with Sig empty (base64).
	Sig string `json:"sig,omitempty"`
}

// Limits of a clip request.
const (
	MaxClipRange   = 6 * time.Hour
	MaxRequestAge  = 10 * time.Minute
	maxRequestSize = 4 << 10
)

// PartSize is the size of each uploaded piece of a clip: a link drop
// costs at most the piece being sent (the object store itself chunks each
// piece in 128 KiB messages). A variable for the resume test.
var PartSize int64 = 4 << 20

// Refusal reasons a box answers with (ClipReply.Error).
const (
	RefuseBadRequest = "bad_request"
	RefuseSignature  = "bad_signature"
	RefuseNoKey      = "no_district_key"
	RefuseStale      = "stale_request"
	RefuseNotShared  = "camera_not_shared"
	RefuseBusy       = "busy"
)

// ClipReply is the box's answer; the clip follows in the bucket.
type ClipReply struct {
	OK    bool   `json:"ok"`
	ID    string `json:"id,omitempty"`
	Error string `json:"error,omitempty"`
}

// clipDone is the last object of an upload.
type clipDone struct {
	File  string `json:"file"`
	Parts int    `json:"parts"`
	Bytes int64  `json:"bytes"`
	Error string `json:"error,omitempty"` // the export failed: nothing else comes
}

func (r ClipRequest) signedBytes() []byte {
	r.Sig = ""
	b, _ := json.Marshal(r) // always marshals
	return b
}

// SignClipRequest signs r with the district key.
func SignClipRequest(key ed25519.PrivateKey, r ClipRequest) ClipRequest {
	r.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, r.signedBytes()))
	return r
}

// Check validates r's fields and signature for box at now.
func (r ClipRequest) Check(pub ed25519.PublicKey, box string, now time.Time) string {
	if len(r.ID) != 32 || !isHex(r.ID) || r.Box != box || !auth.ValidName(r.Camera) || r.Officer == "" || len(r.Officer) > 100 ||
		!r.To.After(r.From) || r.To.Sub(r.From) > MaxClipRange {
		return RefuseBadRequest
	}
	if pub == nil {
		return RefuseNoKey
	}
	sig, err := base64.StdEncoding.DecodeString(r.Sig)
	if err != nil || !ed25519.Verify(pub, r.signedBytes(), sig) {
		return RefuseSignature
	}
	if d := now.Sub(r.Issued); d > MaxRequestAge || d < -MaxRequestAge {
		return RefuseStale
	}
	return ""
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// ClipJob is an accepted request, as the box's exporter gets it.
type ClipJob struct {
	ID      string
	Actor   string // "district:" + officer
	Camera  string
	From    time.Time
	To      time.Time
	Dir     string // where to write clip and manifest
	Request ClipRequest
}

// ClipFiles is what the exporter wrote in ClipJob.Dir.
type ClipFiles struct {
	File     string // the clip's name (as in the manifest)
	Clip     string // paths
	Manifest string
	Sig      string
}

// ClipMaker is the box's side of a clip request (webadmin/box implements
// it over the admin page's signed export and audit log).
type ClipMaker interface {
	// Shared reports whether camera exists and is shared with the district.
	Shared(camera string) (exists, shared bool)
	// MakeClip exports with the signed manifest; the export is in the
	// audit log as the job's actor.
	MakeClip(ctx context.Context, job ClipJob) (ClipFiles, error)
	// Audit records what the district asked and what was sent.
	Audit(actor, action, camera, detail string)
	// WorkDir is a folder for clips waiting to be uploaded.
	WorkDir() string
}

// Audit actions of the district's requests.
const (
	AuditRequest = "district_request"
	AuditRefused = "district_refused"
	AuditUpload  = "district_upload"
)

type exportState struct {
	mu      sync.Mutex
	seen    map[string]time.Time // request IDs answered, for MaxRequestAge*2
	running int
}

const maxConcurrentClips = 2

func (b *Box) listen(ctx context.Context) error {
	_, err := b.nc.Subscribe(ExportSubject(b.opt.Config.Box), func(m *nats.Msg) { b.onClipRequest(ctx, m) })
	if err != nil {
		return fmt.Errorf("federation: listen for requests: %w", err)
	}
	return nil
}

func (b *Box) reply(m *nats.Msg, r ClipReply) {
	data, _ := json.Marshal(r)
	m.Respond(data)
}

func (b *Box) onClipRequest(ctx context.Context, m *nats.Msg) {
	var req ClipRequest
	if len(m.Data) > maxRequestSize || json.Unmarshal(m.Data, &req) != nil {
		b.reply(m, ClipReply{Error: RefuseBadRequest})
		return
	}
	mk := b.opt.Clips
	refuse := func(why string) {
		if mk != nil {
			mk.Audit("district:"+clip(req.Officer), AuditRefused, clip(req.Camera),
				fmt.Sprintf("id=%s %s..%s: %s", clip(req.ID), req.From.Format(time.RFC3339), req.To.Format(time.RFC3339), why))
		}
		b.reply(m, ClipReply{ID: req.ID, Error: why})
	}
	if mk == nil {
		refuse(RefuseBusy)
		return
	}
	pub, _ := b.opt.Config.districtKey()
	if why := req.Check(pub, b.opt.Config.Box, time.Now()); why != "" {
		refuse(why)
		return
	}
	if exists, shared := mk.Shared(req.Camera); !exists || !shared {
		refuse(RefuseNotShared)
		return
	}
	s := &b.exports
	s.mu.Lock()
	if s.seen == nil {
		s.seen = map[string]time.Time{}
	}
	for id, at := range s.seen {
		if time.Since(at) > 2*MaxRequestAge {
			delete(s.seen, id)
		}
	}
	_, again := s.seen[req.ID]
	busy := s.running >= maxConcurrentClips || len(s.seen) > 1000
	if !again && !busy {
		s.seen[req.ID] = time.Now()
		s.running++
	}
	s.mu.Unlock()
	if again {
		b.reply(m, ClipReply{OK: true, ID: req.ID}) // already under way
		return
	}
	if busy {
		refuse(RefuseBusy)
		return
	}
	actor := "district:" + req.Officer
	mk.Audit(actor, AuditRequest, req.Camera, fmt.Sprintf("id=%s %s..%s", req.ID, req.From.Format(time.RFC3339), req.To.Format(time.RFC3339)))
	b.reply(m, ClipReply{OK: true, ID: req.ID})
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { s.mu.Lock(); s.running--; s.mu.Unlock() }()
		b.sendClip(ctx, req, actor)
	}()
}

// clip bounds text from outside before it goes into the audit log.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100]
	}
	return s
}

// sendClip exports and uploads, retrying the upload until it is through
// (a link drop resumes at the first piece not yet in the bucket).
func (b *Box) sendClip(ctx context.Context, req ClipRequest, actor string) {
	mk := b.opt.Clips
	dir := filepath.Join(mk.WorkDir(), req.ID)
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.opt.Logf("federation: clip %s: %v", req.ID, err)
		return
	}
	files, err := mk.MakeClip(ctx, ClipJob{ID: req.ID, Actor: actor, Camera: req.Camera, From: req.From, To: req.To, Dir: dir, Request: req})
	var done clipDone
	if err != nil {
		done.Error = err.Error()
		b.opt.Logf("federation: clip %s: %v", req.ID, err)
	}
	deadline := time.Now().Add(24 * time.Hour)
	for attempt := 0; ctx.Err() == nil && time.Now().Before(deadline); attempt++ {
		err = b.upload(ctx, req.ID, files, done)
		if err == nil {
			break
		}
		b.opt.Logf("federation: clip %s upload: %v (resuming)", req.ID, err)
		sleep(ctx, time.Duration(min(attempt+1, 10))*time.Second)
	}
	if err != nil {
		mk.Audit(actor, AuditUpload, req.Camera, fmt.Sprintf("id=%s failed: %v", req.ID, err))
		return
	}
	mk.Audit(actor, AuditUpload, req.Camera, fmt.Sprintf("id=%s file=%s error=%q", req.ID, files.File, done.Error))
}

func (b *Box) upload(ctx context.Context, id string, files ClipFiles, done clipDone) error {
	bucket := Bucket(b.opt.Config.Box)
	obs, err := b.js.ObjectStore(ctx, bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	st, err := b.js.Stream(ctx, objStream(bucket))
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	bk := bucketPut{obs: obs, stream: st, bucket: bucket, logf: b.opt.Logf}
	if done.Error == "" {
		f, err := os.Open(files.Clip)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		done.File, done.Bytes = files.File, fi.Size()
		done.Parts = int((fi.Size() + PartSize - 1) / PartSize)
		buf := make([]byte, PartSize)
		for i := range done.Parts {
			n, err := f.ReadAt(buf, int64(i)*PartSize)
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			put, err := bk.putOnce(ctx, partName(id, i), buf[:n])
			if err != nil {
				return err
			}
			if put {
				b.partsSent.Add(1)
			}
		}
		for _, p := range []struct{ name, path string }{{"manifest.json", files.Manifest}, {"manifest.sig", files.Sig}} {
			data, err := os.ReadFile(p.path)
			if err != nil {
				return err
			}
			if _, err := bk.putOnce(ctx, id+"/"+p.name, data); err != nil {
				return err
			}
		}
	}
	data, _ := json.Marshal(done)
	_, err = bk.putOnce(ctx, id+"/done", data)
	return err
}

// pieceTimeout bounds one piece's put or get: a put stuck across a
// reconnect (its acknowledgements lost) is given up and resumed. It allows
// 64 KiB/s, a poor commune link, plus 10 s.
func pieceTimeout(n int) time.Duration {
	return 10*time.Second + time.Duration(n)*time.Second/(64<<10)
}

func partName(id string, i int) string { return fmt.Sprintf("%s/part-%05d", id, i) }

// bucketPut puts pieces into a box's clip bucket.
type bucketPut struct {
	obs    jetstream.ObjectStore
	stream jetstream.Stream // the bucket's stream, to count an object's chunks
	bucket string
	logf   func(string, ...any)
}

// objStream is the JetStream stream behind an object store bucket.
func objStream(bucket string) string { return "OBJ_" + bucket }

// putOnce puts data unless the bucket holds it already, whole (a resumed
// upload); put says whether it was sent.
//
// A put cut by a link drop can leave the object's info without all its
// chunks: chunks written to the old connection die with it, while the
// later chunks and the info, waiting in the client's reconnect buffer,
// reach the server once the link is back. Its info then matches (size and
// digest are computed before the info is sent) but a Get waits forever
// for the missing chunks, so an object is only skipped when the bucket
// holds as many chunks under its NUID as its info names.
func (bk bucketPut) putOnce(ctx context.Context, name string, data []byte) (put bool, err error) {
	h := sha256.New()
	h.Write(data)
	digest := jetstream.GetObjectDigestValue(h)
	if info, err := bk.obs.GetInfo(ctx, name); err == nil && info.Size == uint64(len(data)) && info.Digest == digest {
		n, err := bk.chunks(ctx, info.NUID)
		if err != nil {
			return false, fmt.Errorf("check %s: %w", name, err)
		}
		if n == uint64(info.Chunks) {
			return false, nil
		}
		bk.logf("federation: %s in the bucket has %d of its %d chunks (cut by a link drop): put again", name, n, info.Chunks)
	}
	pctx, cancel := context.WithTimeout(ctx, pieceTimeout(len(data)))
	defer cancel()
	if _, err := bk.obs.PutBytes(pctx, name, data); err != nil {
		return false, fmt.Errorf("put %s: %w", name, err)
	}
	return true, nil
}

// chunks counts the messages the bucket's stream holds for an object's
// NUID.
func (bk bucketPut) chunks(ctx context.Context, nuid string) (uint64, error) {
	subj := fmt.Sprintf("$O.%s.C.%s", bk.bucket, nuid)
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	si, err := bk.stream.Info(ictx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, err
	}
	return si.State.Subjects[subj], nil
}
