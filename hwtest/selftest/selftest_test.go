package selftest

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/evidence"
)

// Listing as Linux 6.1 prints it for QEMU virt's PL061 with the power
// key and a line driven by the self-test.
const qemuDebugGPIO = `gpiochip0: GPIOs 512-519, parent: platform/9030000.pl061, 9030000.pl061:
 gpio-512 (                    |matthan-selftest    ) out hi 
 gpio-513 (                    |status              ) out lo 
 gpio-515 (                    |GPIO Key Poweroff   ) in  lo IRQ ACTIVE LOW

gpiochip1: GPIOs 520-527, parent: platform/other, other:
 gpio-520 (                    |x                   ) out hi 
`

func TestParseDebugGPIO(t *testing.T) {
	lines, err := ParseDebugGPIO(strings.NewReader(qemuDebugGPIO), "9030000.pl061")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		off      int
		consumer string
		out, hi  bool
	}{
		{0, "matthan-selftest", true, true},
		{1, "status", true, false},
		{3, "GPIO Key Poweroff", false, false},
	} {
		got, ok := lines[tt.off]
		if !ok || got.Consumer != tt.consumer || got.Output != tt.out || got.High != tt.hi {
			t.Errorf("line %d = %+v (present %v), want consumer %q out=%v hi=%v", tt.off, got, ok, tt.consumer, tt.out, tt.hi)
		}
	}
	if len(lines) != 3 {
		t.Errorf("got %d lines, want 3 (other chip's lines excluded)", len(lines))
	}
	if _, err := ParseDebugGPIO(strings.NewReader(qemuDebugGPIO), "nope"); err == nil {
		t.Error("unknown chip accepted")
	}
}

func FuzzParseDebugGPIO(f *testing.F) {
	f.Add(qemuDebugGPIO, "9030000.pl061")
	f.Add("gpiochip0: GPIOs 0-7, parent: p, x:\n gpio-9 (|a) out hi\n", "x")
	f.Fuzz(func(t *testing.T, listing, label string) {
		ParseDebugGPIO(strings.NewReader(listing), label)
	})
}

// TestBoxKey: the self-test prints the fingerprint of the key the daemon
// made in the data folder (also before the public key file existed), and
// fails when there is none.
func TestBoxKey(t *testing.T) {
	data := t.TempDir()
	if r := BoxKey(data); r.OK {
		t.Errorf("no key, but %v", r)
	}
	keyPath := filepath.Join(data, evidence.BoxKeyDir, evidence.KeyFile)
	k, err := evidence.LoadOrCreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	fp := evidence.Fingerprint(k.Public().(ed25519.PublicKey))
	if r := BoxKey(data); !r.OK || !strings.Contains(r.String(), fp) {
		t.Errorf("%v, want PASS with %s", r, fp)
	}
	os.Remove(evidence.PubPath(keyPath))
	if r := BoxKey(data); !r.OK || !strings.Contains(r.String(), fp) {
		t.Errorf("without the public key file: %v, want PASS with %s", r, fp)
	}
}
