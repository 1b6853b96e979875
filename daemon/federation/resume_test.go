package federation

import (
	"context"
	"testing"
	"time"
)

// TestClipUploadResumes: the link drops (the server stops for 3 s) in
// the middle of a clip's upload; the upload resumes at the first piece
// the bucket lacks, and the district gets the clip whole and verified.
func TestClipUploadResumes(t *testing.T) {
	old := PartSize
	PartSize = 32 << 10
	defer func() { PartSize = old }()
	ts, d, b, _ := clipWorld(t, "ra", 8)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	type result struct {
		fc  *FetchedClip
		err error
	}
	res := make(chan result, 1)
	to := time.Now().Add(-time.Minute)
	go func() {
		fc, err := d.FetchClip(ctx, "officer", "ra", "road1", to.Add(-time.Minute), to)
		res <- result{fc, err}
	}()
	waitFor(t, 30*time.Second, "the first pieces", func() bool { return b.box.partsSent.Load() >= 5 })
	ts.stop()
	before := b.box.partsSent.Load()
	time.Sleep(3 * time.Second)
	ts.start()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !r.fc.Report.OK() {
		t.Fatalf("clip after the link drop: %+v", r.fc.Report)
	}
	parts := (r.fc.Report.ClipBytes + PartSize - 1) / PartSize
	sent := b.box.partsSent.Load()
	t.Logf("%d pieces, %d sent before the drop, %d in all", parts, before, sent)
	if int64(sent) > parts+2 {
		t.Fatalf("%d pieces sent for %d: the upload started over instead of resuming", sent, parts)
	}
}
