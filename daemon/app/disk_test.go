package app

import (
	"context"
	"errors"
	"testing"

	"github.com/matthan/matthan/daemon/storage"
)

// TestRecordingDiskNeedsMountPoint: on the box, a folder that is not a
// mount point (the disk's file system is not mounted there) is never
// recorded into: it would be the card below it.
func TestRecordingDiskNeedsMountPoint(t *testing.T) {
	card, err := storage.Open(context.Background(), t.TempDir(), storage.Options{MinFreeBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	dir := t.TempDir()
	if err := (RecordingDisk{Ctx: context.Background(), Card: card, MountPoint: true}).AttachDisk(dir); err == nil || card.Disk() != nil {
		t.Fatalf("attached a folder that is not a mount point: %v", err)
	}
	r := RecordingDisk{Ctx: context.Background(), Card: card}
	if err := r.AttachDisk(dir); err != nil || card.Disk() == nil {
		t.Fatalf("attach: %v", err)
	}
	r.DetachDisk(errors.New("unplugged"))
	if card.Disk() != nil {
		t.Error("still attached")
	}
}
