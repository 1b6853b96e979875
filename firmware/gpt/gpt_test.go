package gpt

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const name = "matthan-rec" // the recording disk's partition name (daemon/disks)

// TestWriteGPT: sfdisk, the judge, reads back the table WriteGPT made on a
// sparse 3 GiB file (and an odd-sized one): one Linux partition named matthan-rec from 1 MiB to
// the last whole MiB, primary and backup headers valid.
func TestWrite(t *testing.T) {
	sfdisk, err := exec.LookPath("sfdisk")
	if err != nil {
		t.Skip("no sfdisk")
	}
	for _, size := range []int64{3 << 30, 100<<20 + 12345*512} {
		p := filepath.Join(t.TempDir(), "disk.img")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(size)
		off, length, err := Write(f, size, 512, name)
		if err != nil {
			t.Fatal(err)
		}
		// Read takes back what Write wrote, from both headers.
		for _, lba := range []int64{1, size/512 - 1} {
			h, ents, err := Read(f, lba, 512)
			if err != nil {
				t.Fatalf("Read LBA %d: %v", lba, err)
			}
			es := Entries(h, ents)
			if len(es) != 1 || es[0].Name != name || int64(es[0].First)*512 != off || int64(es[0].Last-es[0].First+1)*512 != length {
				t.Errorf("Read LBA %d: entries %+v", lba, es)
			}
		}
		f.Close()
		out, err := exec.Command(sfdisk, "--json", p).CombinedOutput()
		if err != nil {
			t.Fatalf("sfdisk: %v\n%s", err, out)
		}
		var pt struct {
			PartitionTable struct {
				Label      string `json:"label"`
				LastLBA    int64  `json:"lastlba"`
				Partitions []struct {
					Start, Size int64
					Type, Name  string
				} `json:"partitions"`
			} `json:"partitiontable"`
		}
		if err := json.Unmarshal(out, &pt); err != nil {
			t.Fatal(err)
		}
		tb := pt.PartitionTable
		if tb.Label != "gpt" || len(tb.Partitions) != 1 {
			t.Fatalf("sfdisk: %s", out)
		}
		pp := tb.Partitions[0]
		if pp.Name != name || pp.Type != "0FC63DAF-8483-4772-8E79-3D69D8477DE4" || pp.Start*512 != off || pp.Size*512 != length {
			t.Errorf("partition %+v, want %s at %d, %d bytes", pp, name, off, length)
		}
		if off != 1<<20 || (off+length)%(1<<20) != 0 || off+length > size-33*512 || off+length <= size-(1<<20)-33*512 {
			t.Errorf("partition %d+%d on a disk of %d: not MiB-aligned to the end", off, length, size)
		}
		// sfdisk --verify checks both headers and their CRCs.
		if out, err := exec.Command(sfdisk, "--verify", p).CombinedOutput(); err != nil || bytes.Contains(out, []byte("not")) && !bytes.Contains(out, []byte("No errors")) {
			t.Errorf("sfdisk --verify: %v\n%s", err, out)
		}
	}
	if _, _, err := Write(nil, 1<<20, 512, name); err == nil {
		t.Error("a 1 MiB disk was partitioned")
	}
}

// FuzzRead: any bytes as a disk (a card or USB disk is outside input) read
// without panic; what Read accepts lists entries inside the disk's size
// and marshals back to a header that parses the same.
func FuzzRead(f *testing.F) {
	var disk bytesDisk = make([]byte, 8<<20+4096)
	if _, _, err := Write(disk, int64(len(disk)), 512, name); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(disk[:64<<10]))
	f.Add([]byte("EFI PART"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ents, err := Read(bytesDisk(b), 1, 512)
		if err != nil {
			return
		}
		for _, e := range Entries(h, ents) {
			if e.Index < 0 || e.Index >= int(h.NumEntries) {
				t.Fatalf("entry index %d of %d", e.Index, h.NumEntries)
			}
		}
		h2, err := ParseHeader(h.Marshal(512))
		if err != nil || h2.Current != h.Current || h2.EntriesLBA != h.EntriesLBA || h2.EntriesCRC != h.EntriesCRC {
			t.Fatalf("marshal round trip: %+v, %v", h2, err)
		}
	})
}

// bytesDisk is a disk in memory.
type bytesDisk []byte

func (d bytesDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(d)) {
		return 0, io.EOF
	}
	n := copy(p, d[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d bytesDisk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(d)) {
		return 0, io.ErrShortWrite
	}
	return copy(d[off:], p), nil
}
