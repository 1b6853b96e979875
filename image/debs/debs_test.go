package debs

import (
	"strings"
	"testing"

	"github.com/matthan/matthan/board"
)

func TestParseShow(t *testing.T) {
	out := []byte(`Package: linux-image-6.1.0-56-arm64-unsigned
Version: 6.1.192-2
Depends: kmod
Description: Linux
 continued: line
SHA256: f8357fc813e879efb7f467f5b8a37e2426e177bb3d683fac644d70a8343e6a49

Package: linux-image-6.1.0-56-arm64-unsigned
Version: 6.1.192-1
SHA256: aa

`)
	got := ParseShow(out)
	if len(got) != 2 {
		t.Fatalf("got %d candidates, want 2: %+v", len(got), got)
	}
	if got[0].Version != "6.1.192-2" || !strings.HasPrefix(got[0].SHA256, "f835") {
		t.Errorf("first = %+v", got[0])
	}
	if got[1].SHA256 != "aa" {
		t.Errorf("second = %+v", got[1])
	}
}

func TestKernelSeriesAndABI(t *testing.T) {
	for _, tt := range []struct {
		pkg, series string
		abi         int
	}{
		{"linux-image-6.1.0-56-arm64-unsigned", "linux-image-6.1.0-*-arm64-unsigned", 56},
		{"linux-image-6.1.0-9-arm64", "linux-image-6.1.0-*-arm64", 9},
	} {
		if got := kernelSeries(tt.pkg); got != tt.series {
			t.Errorf("kernelSeries(%q) = %q, want %q", tt.pkg, got, tt.series)
		}
		if got := abiOf(tt.pkg); got != tt.abi {
			t.Errorf("abiOf(%q) = %d, want %d", tt.pkg, got, tt.abi)
		}
		if !(board.KernelPin{Series: tt.series}).InSeries(tt.pkg) {
			t.Errorf("%q not in its own series %q", tt.pkg, tt.series)
		}
	}
}

func TestStaleErrorNamesNewestAndCommand(t *testing.T) {
	err := &StaleError{Pin: board.DebPin{Package: "linux-image-6.1.0-56-arm64-unsigned", Version: "6.1.192-2"},
		Newest: "linux-image-6.1.0-57-arm64-unsigned 6.1.200-1"}
	msg := err.Error()
	for _, want := range []string{"6.1.192-2", "linux-image-6.1.0-57-arm64-unsigned 6.1.200-1", RepinCommand} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestPinStanzaMatchesBoardFiles(t *testing.T) {
	b := `{"kernel": {
    "package": "linux-image-6.1.0-56-arm64-unsigned",
    "version": "6.1.192-2",
    "sha256": "f8357fc813e879efb7f467f5b8a37e2426e177bb3d683fac644d70a8343e6a49",`
	m := pinStanza.FindStringSubmatch(b)
	if m == nil || m[1] != "linux-image-6.1.0-56-arm64-unsigned" || m[3] != "6.1.192-2" {
		t.Fatalf("pinStanza match = %q", m)
	}
}
