// Package ingest pulls video from cameras over RTSP (TCP) and hands it, as
// access units timed on the box clock, to a media.Sink such as the
// recorder. One Camera is one goroutine: it connects, depacketizes H.264 or
// H.265, reconnects with a capped backoff, detects stalls with a read
// timeout, and tracks the camera's state (connecting, recording, offline)
// with hysteresis, publishing offline/online events.
//
// Bad input from a camera (garbage packets, broken NAL units, missing
// parameter sets) is dropped and counted; it never stops the daemon.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/pion/rtp"

	"github.com/matthan/matthan/daemon/clock"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/positive"
)

// State is what a camera is doing.
type State string

const (
	// Connecting: not (or no longer) recording, but not gone long enough
	// to be called offline.
	Connecting State = "connecting"
	// Recording: access units are reaching the sink.
	Recording State = "recording"
	// Offline: gone for longer than Options.OfflineAfter.
	Offline State = "offline"
)

// Options tune a Camera. Zero fields take the defaults below.
type Options struct {
	// ReadTimeout: a connection that delivers nothing for this long is
	// dropped and redialled (stall detection). Default 4 s, at least 2 s
	// (gortsplib measures it in whole seconds).
	ReadTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts; it doubles from Min up to Max. Defaults 250 ms and 1 s.
	MinBackoff, MaxBackoff time.Duration
	// OfflineAfter is the hysteresis of the offline event: the camera must
	// have been gone this long. Default 10 s.
	OfflineAfter time.Duration
	// BatchBytes: while a stream plays, the reader is woken only once
	// what the stream sends in 20 ms, but at most this many bytes, is
	// queued on the socket (SO_RCVLOWAT), so that one wake-up takes
	// several packets: about a quarter less CPU per stream. Streams under
	// ~800 kbit/s are not batched. Default 8 KiB; negative turns it off.
	BatchBytes int
	// Clock tunes the timestamp slewing.
	Clock clock.Config
	// Household is copied into the camera's events.
	Household string
	// Events receives offline/online events. Default events.Discard.
	Events events.Publisher
	// Log receives connection messages. Default slog.Default().
	Log *slog.Logger
	// Dial connects to the camera through d (default d.DialContext);
	// daemon/app passes camnet's, which dials only allowed addresses.
	Dial func(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error)
}

func (o *Options) defaults() {
	o.ReadTimeout = positive.Or(o.ReadTimeout, 4*time.Second)
	o.ReadTimeout = max(o.ReadTimeout, 2*time.Second)
	o.MinBackoff = positive.Or(o.MinBackoff, 250*time.Millisecond)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Second, o.MinBackoff)
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = 8 << 10
	}
	o.OfflineAfter = positive.Or(o.OfflineAfter, 10*time.Second)
	if o.Events == nil {
		o.Events = events.Discard
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// counters are updated by the connection's reader and read by Status.
type counters struct {
	packets, payloadBytes          atomic.Uint64
	accessUnits, keyFrames         atomic.Uint64
	videoBytes                     atomic.Uint64
	droppedErrors, waitKeyDrops    atomic.Uint64
	sinkErrors, connects, sessions atomic.Uint64
}

// Status is a snapshot of a camera for the API.
type Status struct {
	Name  string
	URL   string // credentials removed
	Codec string // "" until the first connection described the stream
	// Audio is the sound the camera sends ("AAC/16000", "PCMA/8000"), ""
	// without.
	Audio string
	State State
	Since time.Time
	// LastError is the most recent connection or stream error, "" if none.
	LastError string
	Width     int
	Height    int
	// Counters since the daemon started.
	Packets      uint64 // RTP packets received
	AccessUnits  uint64 // pictures handed to the sink
	KeyFrames    uint64
	VideoBytes   uint64 // NAL unit bytes handed to the sink
	Dropped      uint64 // packets or pictures dropped because they were broken
	SinkErrors   uint64
	Reconnects   uint64
	LastPictures time.Time
}

// Camera pulls one RTSP URL into a sink.
type Camera struct {
	name    string
	rawURL  string
	safeURL string
	url     *base.URL
	sink    media.Sink
	opts    Options
	stats   counters

	lastAU atomic.Int64 // unix nanoseconds of the last written access unit
	played atomic.Bool  // the last session got as far as PLAY

	mu          sync.Mutex
	state       State
	since       time.Time
	lostAt      time.Time
	announced   bool // an offline event was published and no online yet
	lastErr     string
	codec       string
	audio       string // "PCMA/8000", "" without sound
	width       int
	height      int
	offlineTime *time.Timer
}

// New checks the URL and returns a Camera; Run starts it.
func New(name, rawURL string, sink media.Sink, opts Options) (*Camera, error) {
	opts.defaults()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("camera %s: bad URL: %w", name, err)
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return nil, fmt.Errorf("camera %s: URL scheme %q, want rtsp or rtsps", name, u.Scheme)
	}
	return &Camera{
		name: name, rawURL: rawURL, safeURL: RedactURL(rawURL), url: u,
		sink: sink, opts: opts, state: Connecting, since: time.Now(),
	}, nil
}

// RedactURL removes the user name and password from a URL for display.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	return u.String()
}

// Name is the camera's name.
func (c *Camera) Name() string { return c.name }

// Run pulls the camera until ctx is cancelled. It always returns ctx's error.
func (c *Camera) Run(ctx context.Context) error {
	log := c.opts.Log.With("camera", c.name)
	c.mu.Lock()
	c.lostAt = time.Now()
	c.armOfflineLocked()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.offlineTime != nil {
			c.offlineTime.Stop()
		}
		c.mu.Unlock()
	}()

	backoff := c.opts.MinBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			break
		}
		c.lost(err)
		log.Warn("camera connection ended", "err", err, "url", c.safeURL)
		if c.played.Swap(false) || time.Since(started) > 10*time.Second {
			backoff = c.opts.MinBackoff // it was working: retry quickly
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
	}
	return ctx.Err()
}

// session runs one RTSP connection until it fails or ctx ends.
func (c *Camera) session(ctx context.Context) (err error) {
	c.stats.connects.Add(1)
	var (
		tap atomic.Pointer[tapConn]
		// rx is set before SETUP; the tap calls it from gortsplib's reader
		// goroutine once the SETUP response named the RTP channel.
		rx *receiver
	)
	tcp := gortsplib.TransportTCP
	client := &gortsplib.Client{
		Scheme:       c.url.Scheme,
		Host:         c.url.Host,
		Transport:    &tcp,
		ReadTimeout:  c.opts.ReadTimeout,
		WriteTimeout: c.opts.ReadTimeout,
		UserAgent:    "matthand",
		DialContext: func(_ context.Context, network, addr string) (netConn, error) {
			dial := c.opts.Dial
			if dial == nil {
				dial = func(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
					return d.DialContext(ctx, network, addr)
				}
			}
			nc, err := dial(ctx, dialer, network, addr)
			if err != nil {
				return nil, err
			}
			t := newTapConn(nc, func(pkt []byte) { rx.packet(pkt) })
			tap.Store(t)
			return t, nil
		},
		OnResponse: func(res *base.Response) {
			// The SETUP response says on which interleaved channel the
			// video's RTP packets come.
			if v, ok := res.Header["Transport"]; ok && res.StatusCode == base.StatusOK {
				var th headers.Transport
				if th.Unmarshal(v) == nil && th.InterleavedIDs != nil {
					if t := tap.Load(); t != nil && t.rtp.Load() < 0 { // the first SETUP is the video's
						t.rtp.Store(int32(th.InterleavedIDs[0]))
					}
				}
			}
		},
		OnPacketsLost: func(uint64) {},
		OnDecodeError: func(error) { c.stats.droppedErrors.Add(1) },
	}
	if err := client.Start2(); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	stop := context.AfterFunc(ctx, client.Close)
	defer stop()
	defer client.Close()

	desc, _, err := client.Describe(c.url)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	medi, forma, codec, err := pickVideo(desc)
	if err != nil {
		return err
	}

	p := newPipeline(c.name, codec, c.sink, &c.stats, c.opts.Clock)
	switch f := forma.(type) {
	case *format.H264:
		p.setParams(nil, f.SPS, f.PPS)
	case *format.H265:
		p.setParams(f.VPS, f.SPS, f.PPS)
	}
	amedi, aforma, audio := pickAudio(desc)
	p.audio = audio
	c.mu.Lock()
	c.codec = codec.String()
	c.audio = ""
	if audio != nil {
		c.audio = fmt.Sprintf("%v/%d", audio.Codec, audio.SampleRate)
	}
	c.mu.Unlock()
	first := true
	p.onWritten = func(now time.Time) {
		c.lastAU.Store(now.UnixNano())
		if first {
			first = false
			c.recording(p.stream.Width, p.stream.Height)
		}
	}
	rx = &receiver{cam: c, pipe: p, asm: newAssembler(codec), payloadType: forma.PayloadType()}
	rx.emit = rx.accessUnit // one closure for the whole session, not one per packet

	if _, err := client.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	// Packets that reach gortsplib (none, once the tap knows the channel)
	// take the same path.
	client.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		rx.push(pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.Payload)
	})
	if amedi != nil {
		// The sound is taken when the camera offers it (the recorder keeps
		// it only when the camera's switch says so; the live view may play
		// it). A camera that refuses the audio SETUP is recorded without.
		if _, err := client.Setup(desc.BaseURL, amedi, 0, 0); err != nil {
			c.opts.Log.Warn("camera audio not taken", "camera", c.name, "err", err)
			p.audio = nil
		} else if rx.audio, err = newAudioDepacketizer(aforma); err != nil {
			p.audio = nil
		} else {
			client.OnPacketRTP(amedi, aforma, rx.audioPacket)
		}
	}

	if _, err := client.Play(nil); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	c.stats.sessions.Add(1)
	if t := tap.Load(); t != nil && c.opts.BatchBytes > 0 {
		t.batchMax.Store(int32(c.opts.BatchBytes))
	}
	c.reachable()
	err = client.Wait()
	client.Close()
	rx.close(err)
	return fmt.Errorf("stream: %w", err)
}

// receiver is one session's path from RTP packets to the sink.
type receiver struct {
	cam         *Camera
	pipe        *pipeline
	asm         *assembler
	payloadType uint8
	emit        func(ts uint32, nalus [][]byte)

	audio *audioDepacketizer // nil without sound

	mu     sync.Mutex // gortsplib's reader goroutine vs. the end of the session
	closed bool
}

// audioPacket takes one RTP packet of the audio track.
func (r *receiver) audioPacket(pkt *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.audio.packet(pkt, r.pipe.audioUnit)
}

// packet takes one RTP packet from the tap.
func (r *receiver) packet(b []byte) {
	if r == nil {
		return
	}
	pkt, err := parseRTP(b)
	if err != nil || pkt.payloadType != r.payloadType {
		r.cam.stats.droppedErrors.Add(1)
		return
	}
	r.push(pkt.seq, pkt.ts, pkt.marker, pkt.payload)
}

func (r *receiver) push(seq uint16, ts uint32, marker bool, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.cam.stats.packets.Add(1)
	r.cam.stats.payloadBytes.Add(uint64(len(payload)))
	if err := r.asm.push(seq, ts, marker, payload, r.emit); err != nil {
		// A picture was lost: the ones after it refer to it, so nothing
		// more goes to the recorder before the next key frame.
		r.pipe.needKey = true
		r.cam.stats.droppedErrors.Add(1)
		r.cam.noteError(err)
	}
}

func (r *receiver) accessUnit(ts uint32, nalus [][]byte) {
	if err := r.pipe.accessUnit(ts, nalus); err != nil {
		r.cam.stats.droppedErrors.Add(1)
		r.cam.noteError(err)
	}
}

// close ends the stream; later packets are ignored.
func (r *receiver) close(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.pipe.end(err)
}

func pickVideo(desc *description.Session) (*description.Media, format.Format, media.Codec, error) {
	var f264 *format.H264
	if m := desc.FindFormat(&f264); m != nil {
		return m, f264, media.H264, nil
	}
	var f265 *format.H265
	if m := desc.FindFormat(&f265); m != nil {
		return m, f265, media.H265, nil
	}
	return nil, nil, 0, errors.New("the camera offers no H.264 or H.265 video track")
}

// noteError remembers the last stream error for the API (rare path).
func (c *Camera) noteError(err error) {
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
}

// recording is called on the first access unit a connection delivered.
func (c *Camera) recording(w, h int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.state, c.since = Recording, now
	c.width, c.height = w, h
	if c.offlineTime != nil {
		c.offlineTime.Stop()
	}
	if c.announced {
		c.announced = false
		c.opts.Log.Info("camera online", "camera", c.name, "offline_for", now.Sub(c.lostAt).Round(time.Second))
		c.opts.Events.Publish(events.Event{
			Type: events.CameraOnline, Camera: c.name, Household: c.opts.Household, Start: now,
			Text: fmt.Sprintf("Camera trực tuyến trở lại sau %s / camera back online after %s",
				now.Sub(c.lostAt).Round(time.Second), now.Sub(c.lostAt).Round(time.Second)),
		})
	}
}

// reachable is called when a session reached PLAY: the camera answers, so
// the offline clock stops while the first key frame is awaited.
func (c *Camera) reachable() {
	c.played.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != Recording && c.offlineTime != nil {
		c.offlineTime.Stop()
		c.offlineTime = nil
	}
}

// lost is called when a connection ended (or failed to start).
func (c *Camera) lost(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = err.Error()
	}
	switch {
	case c.state == Recording:
		c.state, c.since = Connecting, time.Now()
		c.lostAt = time.Unix(0, c.lastAU.Load())
		c.armOfflineLocked()
	case c.offlineTime == nil && !c.announced:
		// Reached PLAY but never recorded: count from now.
		c.lostAt = time.Now()
		c.armOfflineLocked()
	}
}

func (c *Camera) armOfflineLocked() {
	wait := time.Until(c.lostAt.Add(c.opts.OfflineAfter))
	if c.offlineTime != nil {
		c.offlineTime.Stop()
	}
	c.offlineTime = time.AfterFunc(max(wait, 0), c.offlineTimer)
}

func (c *Camera) offlineTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == Recording || c.announced {
		return
	}
	c.state, c.since = Offline, c.lostAt
	c.announced = true
	c.opts.Log.Warn("camera offline", "camera", c.name, "since", c.lostAt, "err", c.lastErr)
	c.opts.Events.Publish(events.Event{
		Type: events.CameraOffline, Camera: c.name, Household: c.opts.Household, Start: c.lostAt,
		Text: "Mất kết nối camera / camera offline: " + c.lastErr,
	})
}

// Status returns a snapshot of the camera.
func (c *Camera) Status() Status {
	c.mu.Lock()
	s := Status{
		Name: c.name, URL: c.safeURL, Codec: c.codec, Audio: c.audio, State: c.state, Since: c.since,
		LastError: c.lastErr, Width: c.width, Height: c.height,
	}
	c.mu.Unlock()
	s.Packets = c.stats.packets.Load()
	s.AccessUnits = c.stats.accessUnits.Load()
	s.KeyFrames = c.stats.keyFrames.Load()
	s.VideoBytes = c.stats.videoBytes.Load()
	s.Dropped = c.stats.droppedErrors.Load()
	s.SinkErrors = c.stats.sinkErrors.Load()
	s.Reconnects = c.stats.connects.Load()
	if n := c.lastAU.Load(); n != 0 {
		s.LastPictures = time.Unix(0, n)
	}
	if s.Reconnects > 0 {
		s.Reconnects--
	}
	return s
}
