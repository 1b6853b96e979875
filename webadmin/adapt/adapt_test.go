package adapt

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/storage"
)

func TestSegmentsByBaseNameOnlyForTheirCamera(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := storage.Open(ctx, t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	w, err := st.Create("cam1", start, []byte("init"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append([]byte("fragment"), start.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(start.Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	a := Segments{Store: st}
	segs, err := a.Segments(ctx, "cam1", start.Add(-time.Hour), start.Add(time.Hour))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %+v, %v", segs, err)
	}
	if segs[0].File != "20261126T100000.000Z.mp4" || !segs[0].Start.Equal(start) {
		t.Errorf("segment %+v", segs[0])
	}
	f, _, err := a.OpenSegment("cam1", segs[0].File)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "initfragment" {
		t.Errorf("content %q", b)
	}
	for _, tt := range []struct{ cam, file string }{
		{"cam2", segs[0].File},
		{"cam1", "20261126T100001.000Z.mp4"},
		{"cam1", "../journal"},
		{"cam1", "20261126T100000.000Z.mp4/../../x"},
		{"cam1", ""},
	} {
		if f, _, err := a.OpenSegment(tt.cam, tt.file); err == nil {
			f.Close()
			t.Errorf("OpenSegment(%q, %q) opened", tt.cam, tt.file)
		}
	}
}
