package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/internal/faultfs"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/storage"
)

// TestDiskFullToTheLastByte: when not even a journal record fits, the
// store gives back its reserve so that retention can record its deletes
// and free space; afterwards the reserve is made again.
func TestDiskFullToTheLastByte(t *testing.T) {
	ffs := faultfs.New(nil)
	ffs.Quota = 4 << 20
	dir := t.TempDir()
	var (
		mu   sync.Mutex
		logs []string
	)
	s, err := storage.Open(context.Background(), dir, storage.Options{FS: ffs, MinFreeBytes: 1, RetentionInterval: time.Hour,
		Logf: func(f string, a ...any) { mu.Lock(); logs = append(logs, f); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stream := media.Stream{Codec: media.H264,
		SPS: []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60},
		PPS: []byte{0x68, 0xce, 0x3c, 0x80}}
	init, _ := fmp4.InitSegment(stream)
	var fb fmp4.FragmentBuilder
	fb.AddNALUs(media.H264, [][]byte{append([]byte{0x65}, make([]byte, 100<<10)...)}, fmp4.Sample{Duration: 90000, Key: true})
	frag := fb.Encode(1, 0)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		w, err := s.Create("cam", t0.Add(time.Duration(i)*time.Second), init)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append(frag, w.Start().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(w.Start().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Something else fills the disk to the last byte.
	filler, err := ffs.OpenFile(filepath.Join(dir, "filler"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	avail, _, _ := ffs.Statfs(dir)
	filler.Write(make([]byte, avail))
	filler.Close()
	if avail, _, _ := ffs.Statfs(dir); avail != 0 {
		t.Fatalf("disk not full: %d bytes free", avail)
	}
	// A new segment needs room: the store must delete old ones although
	// its journal cannot grow.
	w, err := s.Create("cam", t0.Add(time.Minute), init)
	if err != nil {
		t.Fatalf("create on a full disk: %v (log %q)", err, logs)
	}
	if err := w.Append(frag, w.Start().Add(time.Second)); err != nil {
		t.Fatalf("append on a full disk: %v", err)
	}
	w.Close(w.Start().Add(time.Second))
	segs := s.Segments("cam", time.Time{}, time.Time{})
	if len(segs) >= 11 || !segs[len(segs)-1].Start.Equal(t0.Add(time.Minute)) {
		t.Errorf("segments after the full disk: %d, last %v", len(segs), segs[len(segs)-1].Start)
	}
	used := false
	mu.Lock()
	defer mu.Unlock()
	for _, l := range logs {
		used = used || strings.Contains(l, "using the reserve")
	}
	if !used {
		t.Errorf("the reserve was not needed: the test did not fill the disk to the last byte (log %q)", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings", ".reserve")); err != nil {
		t.Errorf("reserve not made again: %v", err)
	}
}
