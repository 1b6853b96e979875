// Package firmware describes a firmware release: the record image/build
// writes into every initramfs (and next to every image it builds) and
// init/ reads back on the box.
package firmware

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// PathOnBox is where the initramfs carries its release.
const PathOnBox = "/etc/matthan/release.json"

// FileName is the release's name next to the files of a build
// (OUT/BOARD/release.json), where it also carries their hashes.
const FileName = "release.json"

// Release is one build of the firmware: its board; its version (the git
// commit of the source, or "unknown"); Built, the source date (git commit
// time: the box's clock never starts earlier); whether it is a debug image;
// the pinned kernel package and its version; and the SHA-256 of the built
// files. The hashes are known only after the initramfs is packed, so the
// copy inside the initramfs has none; the copy next to the build's files
// has them. The JSON names are those images have carried since the first
// build, and new fields are optional, so that an older image's release
// still reads.
type Release struct {
	Board   string    `json:"board"`
	Version string    `json:"version"`
	Built   time.Time `json:"built"`
	Debug   bool      `json:"debug"`
	Kernel  string    `json:"kernel,omitempty"`
	// Counter is the anti-rollback counter: a box installs a signed
	// bundle only when its counter is greater than the running release's
	// (image/build sets it to the source date in Unix seconds unless told
	// otherwise). Zero in releases built before signed updates.
	Counter uint64 `json:"counter,omitempty"`
	// Embedded, but named by its tag: JSON "hashes", an object.
	*Hashes `json:"hashes,omitempty"`
}

// Hashes are the hex SHA-256 digests of a build's files.
type Hashes struct {
	Kernel    string `json:"kernel"`
	Initramfs string `json:"initramfs"`
	Image     string `json:"image,omitempty"` // empty when no disk image was built
}

// maxSize bounds what Parse and Load read: a release is a few hundred bytes.
const maxSize = 64 << 10

// Marshal returns the release as indented JSON with a final newline.
func (r Release) Marshal() ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return append(b, '\n'), nil
}

// Check says what a release lacks.
func (r Release) Check() error {
	var errs []error
	if r.Board == "" {
		errs = append(errs, errors.New("no board"))
	}
	if r.Version == "" {
		errs = append(errs, errors.New("no version"))
	}
	if r.Built.IsZero() {
		errs = append(errs, errors.New("no source date (built)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// Parse reads a release written by Marshal (or by an older image build).
// Unknown fields are ignored, so that an older init reads a newer release.
func Parse(b []byte) (Release, error) {
	var r Release
	if len(b) > maxSize {
		return r, fmt.Errorf("release: %d bytes, more than %d", len(b), maxSize)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Release{}, fmt.Errorf("release: %w", err)
	}
	if err := r.Check(); err != nil {
		return Release{}, err
	}
	return r, nil
}

// Load reads and parses the release at path.
func Load(path string) (Release, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Release{}, err
	}
	r, err := Parse(b)
	if err != nil {
		return Release{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// WriteFile writes the release to path.
func (r Release) WriteFile(path string) error {
	b, err := r.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}
