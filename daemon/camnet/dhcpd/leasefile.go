package dhcpd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// LeaseFile keeps the bindings on the data partition, written whole
// through firmware/atomicfile: a power cut leaves the old list or the new
// one. It is written only when a binding changes (a new camera, a release,
// a reclaimed address), not on renewals: at most a few small writes an
// hour on an SD card.
type LeaseFile struct{ Path string }

type leaseFileV1 struct {
	Version int     `json:"version"`
	Leases  []Lease `json:"leases"`
}

// maxLeaseFile bounds what Load reads (a damaged or planted file).
const maxLeaseFile = 1 << 20

// Load reads the bindings; a missing file is no bindings.
func (f LeaseFile) Load() ([]Lease, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lease file: %w", err)
	}
	return parseLeaseFile(b)
}

func parseLeaseFile(b []byte) ([]Lease, error) {
	if len(b) > maxLeaseFile {
		return nil, fmt.Errorf("lease file: %d bytes, more than %d", len(b), maxLeaseFile)
	}
	var v leaseFileV1
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("lease file: %w", err)
	}
	if v.Version != 1 {
		return nil, fmt.Errorf("lease file: version %d, want 1", v.Version)
	}
	return v.Leases, nil
}

// Save replaces the file with leases.
func (f LeaseFile) Save(leases []Lease) error {
	if leases == nil {
		leases = []Lease{}
	}
	b, err := json.MarshalIndent(leaseFileV1{Version: 1, Leases: leases}, "", " ")
	if err != nil {
		return fmt.Errorf("lease file: %w", err)
	}
	if err := atomicfile.Write(f.Path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("lease file: %w", err)
	}
	return nil
}
