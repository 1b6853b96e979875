package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/internal/faultfs"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/daemon/storage"
)

var diskT0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func diskInit(t *testing.T) []byte {
	t.Helper()
	b, err := fmp4.InitSegment(media.Stream{Codec: media.H264,
		SPS: []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60},
		PPS: []byte{0x68, 0xce, 0x3c, 0x80}, Width: 64, Height: 64})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diskFrag is one 1 s fragment of one key frame carrying n bytes.
func diskFrag(n int) []byte {
	var fb fmp4.FragmentBuilder
	fb.AddNALUs(media.H264, [][]byte{append([]byte{0x65, 0x88}, make([]byte, n)...)}, fmp4.Sample{Duration: 90000, Key: true})
	return append([]byte(nil), fb.Encode(1, 0)...)
}

// writeSeg records a closed segment of one fragment at start through s.
func writeSeg(t *testing.T, s *storage.Store, cam string, start time.Time, n int) storage.Segment {
	t.Helper()
	w, err := s.Create(cam, start, diskInit(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(diskFrag(n), w.Start().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(w.Start().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	return storage.Segment{Camera: cam, Start: w.Start(), File: w.Path()}
}

type eventSink struct {
	mu  sync.Mutex
	evs []events.Event
}

func (e *eventSink) Publish(ev events.Event) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }
func (e *eventSink) texts(typ events.Type) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		if ev.Type == typ {
			out = append(out, ev.Text)
		}
	}
	return out
}

func openDiskStore(t *testing.T, dir string, fs storage.FS) *storage.Store {
	t.Helper()
	d, err := storage.Open(context.Background(), dir, storage.Options{FS: fs, MinFreeBytes: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestRecordingDiskSwitch: with a recording disk attached, new segments go
// to it and the card gets none; when the disk fails mid-segment, the open
// writer fails with ErrDiskLost, one alarm is raised, the next segment goes
// to the card, nothing panics; when the disk comes back it is repaired and
// used again, and the listing spans both: nothing recorded is lost.
func TestRecordingDiskSwitch(t *testing.T) {
	cardDir, diskDir := t.TempDir(), t.TempDir()
	evs := &eventSink{}
	var lostMu sync.Mutex
	var lost []error
	card, err := storage.Open(context.Background(), cardDir, storage.Options{MinFreeBytes: 1, Logf: t.Logf, Events: evs,
		DiskLost: func(err error) { lostMu.Lock(); lost = append(lost, err); lostMu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()

	// Before the disk: one segment on the card.
	s0 := writeSeg(t, card, "cam", diskT0, 1000)
	if !strings.HasPrefix(s0.File, cardDir) {
		t.Fatalf("segment before the disk at %s, want under %s", s0.File, cardDir)
	}

	dfs := faultfs.New(nil)
	disk := openDiskStore(t, diskDir, dfs)
	if err := card.AttachDisk(disk); err != nil {
		t.Fatal(err)
	}
	if err := card.AttachDisk(openDiskStore(t, t.TempDir(), nil)); err == nil {
		t.Error("a second disk was attached")
	}
	s1 := writeSeg(t, card, "cam", diskT0.Add(time.Minute), 1000)
	if !strings.HasPrefix(s1.File, diskDir) {
		t.Errorf("segment with the disk attached at %s, want under %s", s1.File, diskDir)
	}
	card0 := countMP4(t, cardDir)
	if card0 != 1 {
		t.Errorf("card holds %d segment files, want only the one from before the disk", card0)
	}

	// Mid-segment, the disk dies.
	w, err := card.Create("cam", diskT0.Add(2*time.Minute), diskInit(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(diskFrag(1000), w.Start().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	dfs.SetFail(syscall.EIO)
	err = w.Append(diskFrag(1000), w.Start().Add(2*time.Second))
	if !errors.Is(err, storage.ErrDiskLost) {
		t.Fatalf("append on the dead disk: %v, want ErrDiskLost", err)
	}
	if err := w.Append(diskFrag(1000), w.Start().Add(3*time.Second)); !errors.Is(err, storage.ErrDiskLost) {
		t.Errorf("second append on the dead disk: %v, want ErrDiskLost", err)
	}
	w.Close(w.Start().Add(3 * time.Second)) // best effort: must not panic
	if card.Disk() != nil || !disk.Lost() {
		t.Error("disk still attached after the failure")
	}
	lostMu.Lock()
	if len(lost) != 1 {
		t.Errorf("DiskLost called %d times, want 1", len(lost))
	}
	lostMu.Unlock()
	if a := evs.texts(events.DiskError); len(a) != 1 || !strings.Contains(a[0], "Mất ổ ghi hình") {
		t.Errorf("disk alarms %q, want one", a)
	}

	if st := card.Stats(); st.VideoBytes < 4*1000 || st.WriteErrors == 0 {
		t.Errorf("stats after the loss %+v: what went onto the disk is not counted", st)
	}
	// Recording continues on the card.
	s3 := writeSeg(t, card, "cam", diskT0.Add(3*time.Minute), 1000)
	if !strings.HasPrefix(s3.File, cardDir) {
		t.Errorf("segment after the loss at %s, want on the card", s3.File)
	}
	if got := card.Segments("cam", time.Time{}, time.Time{}); len(got) != 2 {
		t.Errorf("while the disk is away %d segments listed, want the card's 2", len(got))
	}

	// The disk comes back: opened again (repair keeps the fsynced fragment
	// of the cut segment) and attached again.
	dfs.SetFail(nil)
	disk2 := openDiskStore(t, diskDir, nil)
	if err := card.AttachDisk(disk2); err != nil {
		t.Fatal(err)
	}
	s4 := writeSeg(t, card, "cam", diskT0.Add(4*time.Minute), 1000)
	if !strings.HasPrefix(s4.File, diskDir) {
		t.Errorf("segment after the disk came back at %s, want on the disk", s4.File)
	}
	got := card.Segments("cam", time.Time{}, time.Time{})
	want := []time.Time{s0.Start, s1.Start, w.Start(), s3.Start, s4.Start}
	if len(got) != len(want) {
		t.Fatalf("listing spans %d segments, want %d: %+v", len(got), len(want), got)
	}
	for i, g := range got {
		if !g.Start.Equal(want[i]) {
			t.Errorf("segment %d starts %v, want %v", i, g.Start, want[i])
		}
		if _, err := os.Stat(card.Path(g)); err != nil {
			t.Errorf("segment %d: %v", i, err)
		}
	}
	if got[2].End.Sub(got[2].Start) != time.Second {
		t.Errorf("the cut segment kept %v, want its one fsynced second", got[2].End.Sub(got[2].Start))
	}
	if cams := card.Cameras(); len(cams) != 1 || cams[0] != "cam" {
		t.Errorf("Cameras() = %v", cams)
	}
	if o, ok := card.Oldest(); !ok || !o.Start.Equal(s0.Start) {
		t.Errorf("Oldest() = %v %v", o.Start, ok)
	}
	// One export spans the card and the disk.
	var sb strings.Builder
	info, err := storage.Export(context.Background(), &sb, card, "cam", diskT0, diskT0.Add(5*time.Minute))
	if err != nil || info.Segments != len(want) {
		t.Errorf("export across both: %+v, %v", info, err)
	}
}

// TestRecordingDiskStartsIncrease: a segment created on the disk right after
// one on the card at the same millisecond gets a later start, so the merged
// listing never holds two segments with one start.
func TestRecordingDiskStartsIncrease(t *testing.T) {
	card := openDiskStore(t, t.TempDir(), nil)
	writeSeg(t, card, "cam", diskT0, 10)
	if err := card.AttachDisk(openDiskStore(t, t.TempDir(), nil)); err != nil {
		t.Fatal(err)
	}
	s := writeSeg(t, card, "cam", diskT0, 10)
	if !s.Start.After(diskT0) {
		t.Errorf("disk segment starts %v, not after the card's %v", s.Start, diskT0)
	}
}

// TestRecordingDiskFloorPerDisk: each disk keeps its own free-space floor:
// filling the recording disk deletes its oldest segments only, the card's
// stay; and the card's floor is not applied to the disk.
func TestRecordingDiskFloorPerDisk(t *testing.T) {
	cfs, dfs := faultfs.New(nil), faultfs.New(nil)
	cfs.Quota, dfs.Quota = 4<<20, 8<<20
	card, err := storage.Open(context.Background(), t.TempDir(), storage.Options{FS: cfs, MinFreeBytes: 1 << 20, RetentionInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	disk, err := storage.Open(context.Background(), t.TempDir(), storage.Options{FS: dfs, MinFreeBytes: 3 << 20, RetentionInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	for i := range 2 {
		writeSeg(t, card, "cam", diskT0.Add(time.Duration(i)*time.Minute), 200<<10)
	}
	if err := card.AttachDisk(disk); err != nil {
		t.Fatal(err)
	}
	for i := range 40 { // 8 MB of video onto an 8 MB disk with a 3 MB floor
		writeSeg(t, card, "cam", diskT0.Add(time.Hour+time.Duration(i)*time.Minute), 200<<10)
		if avail, _, _ := dfs.Statfs(""); avail < 3<<20-300<<10 {
			t.Fatalf("disk free %d bytes after segment %d: below its 3 MB floor by more than a segment", avail, i)
		}
	}
	if n := len(card.Segments("cam", time.Time{}, diskT0.Add(time.Hour))); n != 2 {
		t.Errorf("card holds %d of its 2 segments: the disk's retention deleted the card's", n)
	}
	if n := len(disk.Segments("cam", time.Time{}, time.Time{})); n >= 40 || n < 10 {
		t.Errorf("disk holds %d segments: its floor did not apply", n)
	}
}

func countMP4(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".mp4") {
			n++
		}
		return nil
	})
	return n
}

// TestRecordingDiskDeadBeforeCreate: a disk that died between segments
// (the camera's folder cannot even be made) is lost at the next Create,
// which then goes to the card.
func TestRecordingDiskDeadBeforeCreate(t *testing.T) {
	cardDir := t.TempDir()
	card := openDiskStore(t, cardDir, nil)
	dfs := faultfs.New(nil)
	if err := card.AttachDisk(openDiskStore(t, t.TempDir(), dfs)); err != nil {
		t.Fatal(err)
	}
	dfs.SetFail(syscall.EIO)
	s := writeSeg(t, card, "newcam", diskT0, 10)
	if !strings.HasPrefix(s.File, cardDir) || card.Disk() != nil {
		t.Errorf("segment at %s, disk still attached: %v", s.File, card.Disk() != nil)
	}
}

// TestRecordingDiskLostWhileWritersClose: the lost disk's store is closed
// while its writers are being closed by their recorders: neither may wait
// for the other (a journal lock taken in another order than the writers'
// once hung a recorder for good in QEMU).
func TestRecordingDiskLostWhileWritersClose(t *testing.T) {
	for round := range 100 {
		card := openDiskStore(t, t.TempDir(), nil)
		dfs := faultfs.New(nil)
		if err := card.AttachDisk(openDiskStore(t, t.TempDir(), dfs)); err != nil {
			t.Fatal(err)
		}
		var ws []*storage.SegmentWriter
		for i := range 32 {
			w, err := card.Create(fmt.Sprintf("cam%d", i), diskT0, diskInit(t))
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w)
		}
		dfs.SetFail(syscall.EIO)
		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			for _, w := range ws {
				wg.Go(func() {
					w.Append(diskFrag(100), w.Start().Add(time.Second)) // loses the disk (once)
					w.Close(w.Start().Add(time.Second))
				})
			}
			wg.Wait()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: writers hung while the lost disk's store closed", round)
		}
		// The card takes the next segments.
		if _, err := card.Create("cam0", diskT0.Add(time.Minute), diskInit(t)); err != nil {
			t.Fatal(err)
		}
	}
}
