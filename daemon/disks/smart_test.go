package disks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// descSense is descriptor-format sense data with an ATA Status Return
// descriptor carrying LBA mid and high.
func descSense(mid, high byte) []byte {
	s := []byte{0x72, 0x01, 0x00, 0x1D, 0, 0, 0, 14,
		0x09, 0x0C, 0, 0, 0, 0, 0, 0, 0, mid, 0, high, 0xA0, 0x50}
	return s
}

func TestParseSATSense(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sense   []byte
		verdict string
		ok      bool
	}{
		{"descriptor passed", descSense(0x4F, 0xC2), SMARTPassed, true},
		{"descriptor failing", descSense(0xF4, 0x2C), SMARTFailing, true},
		{"descriptor other registers", descSense(0, 0), "", false},
		{"descriptor, another descriptor first", append([]byte{0x72, 1, 0, 0x1D, 0, 0, 0, 18, 0x02, 0x02, 0, 0}, descSense(0x4F, 0xC2)[8:]...), SMARTPassed, true},
		{"fixed passed", []byte{0x70, 0, 0x01, 0, 0x50, 0, 0, 10, 0, 0xC2, 0x4F, 0, 0x00, 0x1D}, SMARTPassed, true},
		{"fixed failing", []byte{0x70, 0, 0x01, 0, 0x50, 0, 0, 10, 0, 0x2C, 0xF4, 0, 0x00, 0x1D}, SMARTFailing, true},
		{"fixed invalid opcode (QEMU, bridges without SAT)", []byte{0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0x00}, "", false},
		{"no sense", nil, "", false},
		{"descriptor length past the end", []byte{0x72, 1, 0, 0x1D, 0, 0, 0, 200, 0x09, 0x0C, 0}, "", false},
	} {
		v, ok := parseSATSense(tt.sense)
		if v != tt.verdict || ok != tt.ok {
			t.Errorf("%s: %q %v, want %q %v", tt.name, v, ok, tt.verdict, tt.ok)
		}
	}
}

func FuzzSATSense(f *testing.F) {
	f.Add(descSense(0x4F, 0xC2))
	f.Add([]byte{0x70, 0, 0x01, 0, 0x50, 0, 0, 10, 0, 0xC2, 0x4F, 0, 0x00, 0x1D})
	f.Add([]byte{0x72, 1, 0, 0x1D, 0, 0, 0, 6, 0x09, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseSATSense(b)
		if ok != (v == SMARTPassed || v == SMARTFailing) {
			t.Errorf("%q %v", v, ok)
		}
	})
}

// TestManagerAsksSMART: the verdict is asked once per disk (not at every
// look), shown, asked again after an hour, and not asked of an offline disk;
// the I/O errors shown are those since the box first saw the disk, without
// the ones the SMART questions cause.
func TestManagerAsksSMART(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	asked := map[string]int{}
	sys := copyTree(t)
	m := New(Options{Sys: sys, Target: &fakeTarget{}, Now: func() time.Time { return now },
		Mount: func(context.Context, string, string) error { return nil }, Unmount: func(string) error { return nil },
		SMART: func(dev string) (string, error) {
			asked[dev[len(dev)-3:]]++
			// As the kernel does: the pass-through's CHECK CONDITION counts.
			p := filepath.Join(sys.Block, dev[len(dev)-3:], "device", "ioerr_cnt")
			os.WriteFile(p, []byte(fmt.Sprintf("0x%x\n", readIOErrors(p)+1)), 0o644)
			if dev[len(dev)-3:] == "sdb" {
				return SMARTFailing, nil
			}
			return SMARTPassed, nil
		}})
	for range 3 {
		m.Poll(context.Background())
	}
	st := m.Status()
	want := map[string]string{"sda": SMARTPassed, "sdb": SMARTFailing, "sdc": SMARTPassed, "sdd": ""}
	for _, d := range st.Disks {
		if d.Health.SMART != want[d.Name] && !(d.Name == "sdd" && d.Health.SMART == SMARTUnavailable) {
			t.Errorf("%s: SMART %q, want %q", d.Name, d.Health.SMART, want[d.Name])
		}
	}
	if asked["sda"] != 1 || asked["sdb"] != 1 || asked["sdd"] != 0 {
		t.Errorf("asked %v, want each running disk once", asked)
	}
	for _, d := range st.Disks {
		if want := map[string]int64{"sdd": 26}[d.Name]; d.Health.IOErrors != want {
			t.Errorf("%s: %d I/O errors shown, want %d (a running disk's from before the box saw it and the SMART questions' own are not counted; an offline one's all are)", d.Name, d.Health.IOErrors, want)
		}
	}
	now = now.Add(time.Hour)
	// A real error on sda meanwhile.
	p := filepath.Join(sys.Block, "sda", "device", "ioerr_cnt")
	os.WriteFile(p, []byte(fmt.Sprintf("0x%x\n", readIOErrors(p)+1)), 0o644)
	m.Poll(context.Background())
	if asked["sda"] != 2 {
		t.Errorf("asked %v after an hour", asked)
	}
	if d := find(m.Status().Disks, "sda:DD5641988A0B:65536"); d == nil || d.Health.IOErrors != 1 {
		t.Errorf("sda after a real I/O error: %+v", d)
	}
}
