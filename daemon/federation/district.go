package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/positive"
	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/firmware/atomicfile"
)

// DistrictOptions configure the district side.
type DistrictOptions struct {
	// URL of the district's own NATS server; User/Password or NKeySeed
	// are the district service's credentials.
	URL      string
	User     string
	Password string
	NKeySeed string
	CAFile   string
	// DataDir holds the district's event index, its key and fetched clips.
	DataDir string
	// EventMaxAge is how long the events stream keeps events (default 90 days).
	EventMaxAge time.Duration
	// DuplicateWindow is JetStream's duplicate window on the events
	// stream (default 2 min); repeats after it are dropped by apply.
	DuplicateWindow time.Duration
	// DownAfter: a box or camera without a health record for this long is
	// shown down (default 3 min).
	DownAfter time.Duration
	Logf      func(format string, args ...any)
}

// KeyFile is the district key's file name in DataDir: it signs clip
// requests; boxes enrol its public half (DistrictKeyBase64).
const KeyFile = "district-signing.key"

// District is the district side, running.
type District struct {
	Index *search.Index
	opt   DistrictOptions
	key   ed25519.PrivateKey
	nc    *nats.Conn
	js    jetstream.JetStream

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	health  map[string]Health
	trusted map[string]string // box -> key fingerprint (first seen, or enrolled)
	buckets map[string]bool

	applied, repeats atomic.Uint64
}

// OpenDistrict opens the district's index and key, connects, makes the
// streams if they are missing, and starts consuming.
func OpenDistrict(opt DistrictOptions) (*District, error) {
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	opt.EventMaxAge = positive.Or(opt.EventMaxAge, 90*24*time.Hour)
	opt.DuplicateWindow = positive.Or(opt.DuplicateWindow, 2*time.Minute)
	opt.DownAfter = positive.Or(opt.DownAfter, 3*time.Minute)
	if err := os.MkdirAll(filepath.Join(opt.DataDir, "clips"), 0o700); err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	key, err := evidence.LoadOrCreateKey(filepath.Join(opt.DataDir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("federation: district key: %w", err)
	}
	d := &District{opt: opt, key: key, health: map[string]Health{}, trusted: map[string]string{}, buckets: map[string]bool{}}
	d.loadTrust()
	if d.Index, err = search.Open(filepath.Join(opt.DataDir, "events"), search.Options{Logf: opt.Logf, FlushEvery: 200 * time.Millisecond, BatchSize: 5000, KeepSeq: true}); err != nil {
		return nil, err
	}
	cfg := Config{URL: opt.URL, NKeySeed: opt.NKeySeed, CAFile: opt.CAFile}
	copts, err := cfg.connOptions("matthan district")
	if err != nil {
		d.Index.Close()
		return nil, err
	}
	if opt.User != "" {
		copts = append(copts, nats.UserInfo(opt.User, opt.Password))
	}
	if d.nc, err = nats.Connect(opt.URL, copts...); err != nil {
		d.Index.Close()
		return nil, fmt.Errorf("federation: connect %s: %w", opt.URL, err)
	}
	d.js, _ = jetstream.New(d.nc)
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(2)
	go func() { defer d.wg.Done(); d.consumeEvents(ctx) }()
	go func() { defer d.wg.Done(); d.consumeHealth(ctx) }()
	return d, nil
}

// PublicKey is the district key boxes enrol (base64, Config.DistrictKey).
func (d *District) PublicKey() string {
	return base64.StdEncoding.EncodeToString(d.key.Public().(ed25519.PublicKey))
}

// Stats counts event versions applied and repeats ignored.
func (d *District) Stats() (applied, repeats uint64) { return d.applied.Load(), d.repeats.Load() }

// Close stops consuming and closes the index.
func (d *District) Close() error {
	d.cancel()
	d.nc.Close()
	d.wg.Wait()
	return d.Index.Close()
}

func (d *District) ensureStreams(ctx context.Context) error {
	_, err := d.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: StreamEvents, Subjects: []string{"matthan.*.events"},
		Storage: jetstream.FileStorage, MaxAge: d.opt.EventMaxAge, Duplicates: d.opt.DuplicateWindow})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamEvents, err)
	}
	_, err = d.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: StreamHealth, Subjects: []string{"matthan.*.health"},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: 1, MaxAge: 7 * 24 * time.Hour})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamHealth, err)
	}
	return nil
}

// consumeEvents applies the events stream to the index, a batch at a
// time: applied and flushed before its messages are acknowledged, so a
// crash or a lost delivery brings them again (after AckWait) and apply
// drops what it already holds.
func (d *District) consumeEvents(ctx context.Context) {
	var it jetstream.MessagesContext
	defer func() {
		if it != nil {
			it.Stop()
		}
	}()
	for ctx.Err() == nil {
		if it == nil {
			err := d.ensureStreams(ctx)
			var cons jetstream.Consumer
			if err == nil {
				cons, err = d.js.CreateOrUpdateConsumer(ctx, StreamEvents, jetstream.ConsumerConfig{Durable: "district",
					AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20000, AckWait: 30 * time.Second})
			}
			if err == nil {
				// A continuous pull: no message is delivered to a pull
				// request that ended meanwhile (as a Fetch's can be).
				it, err = cons.Messages(jetstream.PullMaxMessages(consumeBatch))
			}
			if err != nil {
				d.opt.Logf("federation: events stream: %v", err)
				sleep(ctx, time.Second)
				continue
			}
		}
		var msgs []jetstream.Msg
		inBatch := map[string]uint64{}
		wait := time.Second
		for len(msgs) < consumeBatch && ctx.Err() == nil {
			m, err := it.Next(jetstream.NextMaxWait(wait))
			if errors.Is(err, nats.ErrTimeout) {
				break
			}
			if err != nil {
				d.opt.Logf("federation: events: %v", err)
				it.Stop()
				it = nil
				break
			}
			d.apply(m, inBatch)
			msgs = append(msgs, m)
			wait = 50 * time.Millisecond // a batch: what has come
		}
		if len(msgs) == 0 {
			continue
		}
		if err := d.Index.Flush(); err != nil {
			d.opt.Logf("federation: %v", err) // not acknowledged: redelivered
			continue
		}
		// Each message on its own: one the link lost is redelivered after
		// AckWait, where acknowledging a later one "and all before" would
		// have dropped it.
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				d.opt.Logf("federation: ack: %v", err)
				break
			}
		}
	}
}

// consumeBatch is how many events are applied, flushed and acknowledged
// together.
const consumeBatch = 5000

// apply puts one event version into the index unless it holds that
// version or a later one already (a repeat past JetStream's window).
func (d *District) apply(m jetstream.Msg, inBatch map[string]uint64) {
	box, ok := boxOfSubject(m.Subject(), "events")
	if !ok {
		return
	}
	var e events.Event
	if err := json.Unmarshal(m.Data(), &e); err != nil || e.Seq == 0 || e.ID == "" || e.Start.IsZero() {
		d.opt.Logf("federation: dropped a malformed event from %s", box)
		return
	}
	e.Box = box
	e.ID = box + "/" + e.ID
	if e.Camera != "" {
		e.Camera = box + "." + e.Camera
	}
	// Get reads committed events; the batch's own are in inBatch until
	// the batch is flushed.
	if s, ok := inBatch[e.ID]; ok && s >= e.Seq {
		d.repeats.Add(1)
		return
	}
	if held, ok, _ := d.Index.Get(e.ID); ok && held.Seq >= e.Seq {
		d.repeats.Add(1)
		return
	}
	inBatch[e.ID] = e.Seq
	d.Index.Publish(e)
	d.applied.Add(1)
}

func (d *District) consumeHealth(ctx context.Context) {
	for ctx.Err() == nil {
		err := d.ensureStreams(ctx)
		var cc jetstream.ConsumeContext
		if err == nil {
			var cons jetstream.Consumer
			cons, err = d.js.OrderedConsumer(ctx, StreamHealth, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
			if err == nil {
				cc, err = cons.Consume(func(m jetstream.Msg) { d.onHealth(m.Subject(), m.Data()) })
			}
		}
		if err != nil {
			d.opt.Logf("federation: health stream: %v", err)
			sleep(ctx, time.Second)
			continue
		}
		<-ctx.Done()
		cc.Stop()
	}
}

func (d *District) onHealth(subj string, data []byte) {
	box, ok := boxOfSubject(subj, "health")
	if !ok {
		return
	}
	var h Health
	if json.Unmarshal(data, &h) != nil || h.Box != box || len(h.Cameras) > 1000 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.health[box]; ok && old.Time.After(h.Time) {
		return
	}
	d.health[box] = h
	if _, ok := d.trusted[box]; !ok && h.KeyFingerprint != "" {
		d.trusted[box] = h.KeyFingerprint // first seen: kept (enrolment may set it instead)
		d.saveTrustLocked()
	}
}

// BoxState is a box as the district page shows it.
type BoxState struct {
	Box      string
	Up       bool
	LastSeen time.Time
	Health   Health
}

// Boxes lists the boxes heard from, by ID.
func (d *District) Boxes() []BoxState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]BoxState, 0, len(d.health))
	for box, h := range d.health {
		out = append(out, BoxState{Box: box, Up: time.Since(h.Time) < d.opt.DownAfter, LastSeen: h.Time, Health: h})
	}
	slices.SortFunc(out, func(a, b BoxState) int {
		if a.Box < b.Box {
			return -1
		}
		return 1
	})
	return out
}

// Trust sets the fingerprint of box's evidence key (from the box's system
// page), replacing the one first seen.
func (d *District) Trust(box, fingerprint string) error {
	if !ValidBoxID(box) {
		return fmt.Errorf("box ID %q", box)
	}
	if _, err := evidence.TrustFingerprint(fingerprint); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.trusted[box] = fingerprint
	return d.saveTrustLocked()
}

func (d *District) trustPath() string { return filepath.Join(d.opt.DataDir, "trusted-boxes.json") }

func (d *District) loadTrust() {
	if b, err := os.ReadFile(d.trustPath()); err == nil {
		json.Unmarshal(b, &d.trusted)
	}
}

func (d *District) saveTrustLocked() error {
	b, _ := json.Marshal(d.trusted)
	return atomicfile.Write(d.trustPath(), b, 0o600)
}

// FetchedClip is a clip the district has, checked.
type FetchedClip struct {
	ID       string
	Box      string
	Dir      string // DataDir/clips/ID
	File     string // the clip's file name in Dir
	Manifest evidence.Manifest
	Report   evidence.Report
	Error    string // the box could not export (no recording…)
}

// clipFileRE: the clip's name as the box's export names it
// (cam1_2026-12-07_07-17-14_2026-12-07_07-17-22.mp4), nothing that leaves
// the clip's folder.
var clipFileRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}\.mp4$`)

// ErrRefused wraps a box's refusal (its reason after the colon).
var ErrRefused = errors.New("the box refused")

// EnsureBucket makes box's clip bucket if it is missing.
func (d *District) EnsureBucket(ctx context.Context, box string) error {
	d.mu.Lock()
	ok := d.buckets[box]
	d.mu.Unlock()
	if ok {
		return nil
	}
	_, err := d.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: Bucket(box), Storage: jetstream.FileStorage, TTL: 30 * 24 * time.Hour})
	if err != nil {
		return fmt.Errorf("bucket for %s: %w", box, err)
	}
	d.mu.Lock()
	d.buckets[box] = true
	d.mu.Unlock()
	return nil
}

// FetchClip asks box for camera's clip of [from, to) on behalf of officer,
// waits for the upload (up to ctx), downloads it and verifies its manifest
// against the box key the district trusts.
func (d *District) FetchClip(ctx context.Context, officer, box, camera string, from, to time.Time) (*FetchedClip, error) {
	if !ValidBoxID(box) {
		return nil, fmt.Errorf("box ID %q", box)
	}
	if err := d.EnsureBucket(ctx, box); err != nil {
		return nil, err
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	req := SignClipRequest(d.key, ClipRequest{ID: hex.EncodeToString(rnd[:]), Box: box, Officer: officer,
		Camera: camera, From: from.UTC(), To: to.UTC(), Issued: time.Now().UTC()})
	data, _ := json.Marshal(req)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	msg, err := d.nc.RequestWithContext(rctx, ExportSubject(box), data)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("ask %s for the clip: %w", box, err)
	}
	var rep ClipReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return nil, fmt.Errorf("the answer of %s: %w", box, err)
	}
	if !rep.OK {
		return nil, fmt.Errorf("%w: %s", ErrRefused, rep.Error)
	}
	return d.download(ctx, box, req.ID)
}

func (d *District) download(ctx context.Context, box, id string) (*FetchedClip, error) {
	obs, err := d.js.ObjectStore(ctx, Bucket(box))
	if err != nil {
		return nil, err
	}
	var done clipDone
	for {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a call stuck across a reconnect is given up
		b, err := obs.GetBytes(gctx, id+"/done")
		cancel()
		if err == nil {
			if err := json.Unmarshal(b, &done); err != nil {
				return nil, fmt.Errorf("clip %s: %w", id, err)
			}
			break
		}
		if !errors.Is(err, jetstream.ErrObjectNotFound) && ctx.Err() == nil {
			d.opt.Logf("federation: clip %s: %v", id, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("clip %s from %s not uploaded yet: %w", id, box, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
		if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			if o, oerr := d.js.ObjectStore(ctx, Bucket(box)); oerr == nil {
				obs = o
			}
		}
	}
	fc := &FetchedClip{ID: id, Box: box, Dir: filepath.Join(d.opt.DataDir, "clips", id), Error: done.Error}
	if done.Error != "" {
		return fc, nil
	}
	if !clipFileRE.MatchString(done.File) || done.Parts > 1<<16 {
		return nil, fmt.Errorf("clip %s: bad file name %q", id, done.File)
	}
	fc.File = done.File
	if err := os.MkdirAll(fc.Dir, 0o700); err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(fc.Dir, "box"), []byte(box), 0o600)
	f, err := os.Create(filepath.Join(fc.Dir, done.File))
	if err != nil {
		return nil, err
	}
	for i := range done.Parts {
		// A piece read while the link drops is read again (from its
		// start: the file is cut back to where it began).
		at, _ := f.Seek(0, io.SeekCurrent)
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if attempt > 0 {
				sleep(ctx, time.Second)
				f.Truncate(at)
				f.Seek(at, io.SeekStart)
				if o, oerr := d.js.ObjectStore(ctx, Bucket(box)); oerr == nil {
					obs = o
				}
			}
			var r jetstream.ObjectResult
			pctx, cancel := context.WithTimeout(ctx, pieceTimeout(int(PartSize)))
			if r, err = obs.Get(pctx, partName(id, i)); err == nil {
				_, err = io.Copy(f, r)
				r.Close()
			}
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("clip %s part %d: %w", id, i, err)
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	mb, err := obs.GetBytes(mctx, id+"/manifest.json")
	if err != nil {
		return nil, fmt.Errorf("clip %s manifest: %w", id, err)
	}
	sig, err := obs.GetBytes(mctx, id+"/manifest.sig")
	if err != nil {
		return nil, fmt.Errorf("clip %s signature: %w", id, err)
	}
	os.WriteFile(filepath.Join(fc.Dir, "manifest.json"), mb, 0o600)
	os.WriteFile(filepath.Join(fc.Dir, "manifest.sig"), sig, 0o600)
	if err := d.verify(fc); err != nil {
		return nil, err
	}
	return fc, nil
}

// verify checks a fetched clip against the box key the district trusts.
func (d *District) verify(fc *FetchedClip) error {
	d.mu.Lock()
	fp := d.trusted[fc.Box]
	d.mu.Unlock()
	trust, err := evidence.TrustFingerprint(fp)
	if err != nil {
		return fmt.Errorf("no trusted key for box %s yet (its health record brings it): %w", fc.Box, err)
	}
	mb, err := os.ReadFile(filepath.Join(fc.Dir, "manifest.json"))
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(filepath.Join(fc.Dir, "manifest.sig"))
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(fc.Dir, fc.File))
	if err != nil {
		return err
	}
	defer f.Close()
	fc.Report, err = evidence.Verify(mb, sig, f, trust)
	if err != nil {
		return fmt.Errorf("clip %s: %w", fc.ID, err)
	}
	fc.Manifest, _ = evidence.ParseManifest(mb)
	return nil
}

// Clips lists the fetched clips, verified again from their files.
func (d *District) Clips() []FetchedClip {
	es, _ := os.ReadDir(filepath.Join(d.opt.DataDir, "clips"))
	var out []FetchedClip
	for _, e := range es {
		if !e.IsDir() || len(e.Name()) != 32 || !isHex(e.Name()) {
			continue
		}
		fc := FetchedClip{ID: e.Name(), Dir: filepath.Join(d.opt.DataDir, "clips", e.Name())}
		mb, err := os.ReadFile(filepath.Join(fc.Dir, "manifest.json"))
		if err != nil {
			continue
		}
		m, err := evidence.ParseManifest(mb)
		if err != nil {
			continue
		}
		fc.File = m.File
		if box, ok := d.boxOfClip(fc.Dir); ok {
			fc.Box = box
		}
		d.verify(&fc)
		out = append(out, fc)
	}
	return out
}

func (d *District) boxOfClip(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "box"))
	return string(b), err == nil
}
