package federation

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSpoofing: with box B's credentials one cannot publish events as box
// A, receive A's commands or write into A's bucket; B's own publishing
// works on the same connection.
func TestSpoofing(t *testing.T) {
	ts := newServer(t, "za", "zb")
	d := ts.openDistrict(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.EnsureBucket(ctx, "za"); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureBucket(ctx, "zb"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the events stream", func() bool {
		_, err := d.js.Stream(ctx, StreamEvents)
		return err == nil
	})
	cfg := ts.boxConfig("zb")
	opts, err := cfg.connOptions("spoofer")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var violations []string
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		violations = append(violations, err.Error())
		mu.Unlock()
	}))
	nc, err := nats.Connect(ts.url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)

	// Publish as A: refused by the server, nothing stored.
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		t.Cleanup(cancel)
		return c
	}
	if _, err := js.Publish(short(), EventsSubject("za"), []byte(`{"id":"x","type":"motion","start":"2026-01-01T00:00:00Z","seq":1}`), jetstream.WithExpectStream(StreamEvents)); err == nil {
		t.Fatal("box B published into A's events")
	}
	// Read A's commands: the subscription is refused; a request to A
	// finds no responder.
	sub, err := nc.SubscribeSync(ExportSubject("za"))
	if err == nil {
		nc.Flush()
		if _, err := d.nc.Request(ExportSubject("za"), []byte("{}"), time.Second); err == nil {
			t.Fatal("a request to A was answered")
		}
		if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
			t.Fatalf("box B read A's command: %q", m.Data)
		}
	}
	// Write into A's bucket.
	if obs, err := js.ObjectStore(short(), Bucket("za")); err == nil {
		if _, err := obs.PutBytes(short(), "planted", []byte("x")); err == nil {
			t.Fatal("box B wrote into A's bucket")
		}
	}
	// Direct chunk publish into A's bucket stream.
	if _, err := js.Publish(short(), "$O."+Bucket("za")+".C.planted", []byte("x")); err == nil {
		t.Fatal("box B published a chunk into A's bucket")
	}
	// B's own subjects work on the same connection.
	if _, err := js.Publish(ctx, EventsSubject("zb"), []byte(`{"id":"own","type":"motion","start":"2026-01-01T00:00:00Z","seq":1}`)); err != nil {
		t.Fatalf("box B's own publish: %v", err)
	}
	obsB, err := js.ObjectStore(ctx, Bucket("zb"))
	if err != nil {
		t.Fatalf("box B's own bucket: %v", err)
	}
	if _, err := obsB.PutBytes(ctx, "own", []byte("clip")); err != nil {
		t.Fatalf("box B's own bucket put: %v", err)
	}
	// The district holds nothing as A.
	obsA, _ := d.js.ObjectStore(ctx, Bucket("za"))
	if st, _ := obsA.Status(ctx); st.Size() != 0 {
		t.Fatalf("A's bucket holds %d bytes", st.Size())
	}
	waitFor(t, 10*time.Second, "B's event at the district", func() bool {
		_, ok, _ := d.Index.Get("zb/own")
		return ok
	})
	if _, ok, _ := d.Index.Get("za/x"); ok {
		t.Fatal("the district holds an event as A")
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(violations, "\n")
	for _, want := range []string{`Publish to "matthan.za.events"`, `Subscription to "matthan.za.cmd.export"`} {
		if !strings.Contains(all, want) {
			t.Errorf("no permissions violation %s; got:\n%s", want, all)
		}
	}
}
