package federation

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPutOnceCutPiece: a piece whose info reached the bucket but whose
// chunks did not (a put cut by a link drop: the info and later chunks
// waited in the reconnect buffer, earlier chunks died with the old
// connection) is put again on resume, not skipped because its info
// matches; a whole piece is skipped.
func TestPutOnceCutPiece(t *testing.T) {
	ts := newServer(t, "ra")
	nc, err := nats.Connect(ts.url, nats.UserInfo(districtUser, districtPass))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bucket := Bucket("ra")
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, objStream(bucket))
	if err != nil {
		t.Fatal(err)
	}
	bk := bucketPut{obs: obs, stream: st, bucket: bucket, logf: t.Logf}
	data := bytes.Repeat([]byte("evidence"), 40<<10) // 320 KiB: three chunks
	for _, tc := range []struct {
		name    string
		cut     bool // drop the piece's chunks after its put
		wantPut bool
	}{
		{"whole", false, false},
		{"cut", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "clip/part-" + tc.name
			if put, err := bk.putOnce(ctx, name, data); err != nil || !put {
				t.Fatalf("first put: %v, %v", put, err)
			}
			if tc.cut {
				info, err := obs.GetInfo(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Purge(ctx, jetstream.WithPurgeSubject(fmt.Sprintf("$O.%s.C.%s", bucket, info.NUID)), jetstream.WithPurgeKeep(1)); err != nil {
					t.Fatal(err)
				}
			}
			put, err := bk.putOnce(ctx, name, data)
			if err != nil || put != tc.wantPut {
				t.Fatalf("resumed put: put=%v err=%v, want put=%v", put, err, tc.wantPut)
			}
			gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
			defer gcancel()
			got, err := obs.GetBytes(gctx, name)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get after resume: %d bytes, %v", len(got), err)
			}
		})
	}
}
