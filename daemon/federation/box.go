package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/positive"
)

// Outbox is the event log as the box side reads it (*search.Index).
type Outbox interface {
	ReadAfter(after uint64, limit int) ([]events.Event, error)
	LastSeq() uint64
}

// Health is the record a box publishes every HealthEvery.
type Health struct {
	Box       string    `json:"box"`
	Time      time.Time `json:"time"`
	Version   string    `json:"version"`
	UptimeSec int64     `json:"uptimeSec"`
	DiskFree  uint64    `json:"diskFree"`
	DiskTotal uint64    `json:"diskTotal"`
	// TempC is the board's temperature, nil where it has no sensor.
	TempC   *float64       `json:"tempC,omitempty"`
	Cameras []CameraHealth `json:"cameras"`
	// LastSeq and Acked are the outbox: the last event committed and the
	// last one the district acknowledged.
	LastSeq uint64 `json:"lastSeq"`
	Acked   uint64 `json:"acked"`
	// KeyFingerprint is the box's evidence key (evidence.Fingerprint),
	// which signs its clip manifests.
	KeyFingerprint string `json:"keyFingerprint"`
	// PublicKey is that key (base64); the district trusts it only when its
	// fingerprint is the enrolled one (or the first one it saw).
	PublicKey string `json:"publicKey"`
}

// CameraHealth is one camera in a health record.
type CameraHealth struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Online      bool    `json:"online"`
	BitrateKbps float64 `json:"bitrateKbps"`
	Shared      bool    `json:"shared"`
}

// BoxOptions configure the box side.
type BoxOptions struct {
	Config Config
	Outbox Outbox
	Cursor *Cursor
	// Health makes the health record (Box, Time, LastSeq and Acked are
	// filled in); nil publishes none.
	Health      func() Health
	HealthEvery time.Duration // default 60 s
	// Batch is how many events are in flight at once (default 1000).
	Batch int
	// Poll is how often the log is looked at when the outbox is empty
	// (default 250 ms).
	Poll time.Duration
	// Clips answers the district's clip requests; nil refuses them.
	Clips ClipMaker
	Logf  func(format string, args ...any)
}

// Box is the box side, running.
type Box struct {
	opt    BoxOptions
	nc     *nats.Conn
	js     jetstream.JetStream
	cancel context.CancelFunc
	wg     sync.WaitGroup

	published atomic.Uint64 // messages JetStream acknowledged (repeats too)
	partsSent atomic.Uint64 // clip pieces put into the bucket
	exports   exportState
}

// StartBox connects to the district (retrying in the background while it
// is unreachable) and starts publishing.
func StartBox(opt BoxOptions) (*Box, error) {
	if err := opt.Config.Validate(); err != nil {
		return nil, err
	}
	if !opt.Config.Enabled() {
		return nil, errors.New("federation: no district configured")
	}
	opt.HealthEvery = positive.Or(opt.HealthEvery, time.Minute)
	opt.Batch = positive.Or(opt.Batch, 1000)
	opt.Poll = positive.Or(opt.Poll, 250*time.Millisecond)
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	opts, err := opt.Config.connOptions("matthan box " + opt.Config.Box)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { opt.Logf("federation: district link down: %v", err) }),
		nats.ReconnectHandler(func(*nats.Conn) { opt.Logf("federation: district link up again") }))
	nc, err := nats.Connect(opt.Config.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("federation: connect %s: %w", opt.Config.URL, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(opt.Batch*2),
		jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("federation: %w", err)
	}
	opt.Cursor.SetEnabled(true)
	ctx, cancel := context.WithCancel(context.Background())
	b := &Box{opt: opt, nc: nc, js: js, cancel: cancel}
	if err := b.listen(ctx); err != nil {
		cancel()
		nc.Close()
		return nil, err
	}
	b.wg.Add(2)
	go func() { defer b.wg.Done(); b.publishLoop(ctx) }()
	go func() { defer b.wg.Done(); b.healthLoop(ctx) }()
	return b, nil
}

// Connected says whether the link to the district is up now.
func (b *Box) Connected() bool { return b.nc.IsConnected() }

// Published counts events JetStream acknowledged.
func (b *Box) Published() uint64 { return b.published.Load() }

// Close stops publishing; what was not acknowledged is sent after the
// next start.
func (b *Box) Close() error {
	b.cancel()
	b.nc.Close()
	b.wg.Wait()
	return nil
}

// publishLoop sends the outbox from the cursor, a batch at a time, and
// moves the cursor over the acknowledged prefix of each batch.
func (b *Box) publishLoop(ctx context.Context) {
	backoff := b.opt.Poll
	for ctx.Err() == nil {
		n, err := b.publishBatch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				b.opt.Logf("federation: outbox: %v (trying again in %v)", err, backoff)
			}
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = b.opt.Poll
		if n == 0 {
			sleep(ctx, b.opt.Poll)
		}
	}
}

func (b *Box) publishBatch(ctx context.Context) (int, error) {
	acked := b.opt.Cursor.Acked()
	evs, err := b.opt.Outbox.ReadAfter(acked, b.opt.Batch)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	subj := EventsSubject(b.opt.Config.Box)
	futs := make([]jetstream.PubAckFuture, 0, len(evs))
	var perr error
	for i := range evs {
		data, err := json.Marshal(&evs[i])
		if err != nil {
			return 0, fmt.Errorf("encode event %d: %w", evs[i].Seq, err)
		}
		m := nats.NewMsg(subj)
		m.Data = data
		f, err := b.js.PublishMsgAsync(m, jetstream.WithMsgID(MsgID(b.opt.Config.Box, evs[i].Seq)))
		if err != nil {
			perr = err
			break
		}
		futs = append(futs, f)
	}
	// The acknowledged prefix moves the cursor.
	last := acked
	ok := 0
	for i, f := range futs {
		select {
		case <-f.Ok():
			if i == ok {
				ok++
				last = evs[i].Seq
			}
		case err := <-f.Err():
			if perr == nil {
				perr = err
			}
		case <-ctx.Done():
			return ok, ctx.Err()
		}
	}
	b.published.Add(uint64(ok))
	if last > acked {
		if err := b.opt.Cursor.Advance(last); err != nil {
			return ok, err
		}
	}
	if perr != nil {
		return ok, fmt.Errorf("publish: %w", perr)
	}
	return ok, nil
}

func (b *Box) healthLoop(ctx context.Context) {
	if b.opt.Health == nil {
		return
	}
	t := time.NewTicker(b.opt.HealthEvery)
	defer t.Stop()
	for {
		h := b.opt.Health()
		h.Box, h.Time = b.opt.Config.Box, time.Now().UTC()
		h.LastSeq, h.Acked = b.opt.Outbox.LastSeq(), b.opt.Cursor.Acked()
		if data, err := json.Marshal(h); err == nil && b.nc.IsConnected() {
			// Only the latest matters: not kept in the outbox.
			b.nc.Publish(HealthSubject(b.opt.Config.Box), data)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
