package timesync

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// LastGoodFile is where, under the data directory, the box keeps the
// last time it knew (written every minute and at shutdown). Init reads it
// at boot so that the clock never starts before it.
const LastGoodFile = "clock/lastgood.json"

// BootFile is where (under /run) init says how it set the clock, for the
// daemon's status.
const BootFile = "/run/matthan/clock.json"

// Source says where the box's time came from.
type Source string

// Sources.
const (
	SourceBuild   Source = "build"   // the image's build date (nothing better)
	SourceDisk    Source = "disk"    // the last known good time on the data partition
	SourceRTC     Source = "rtc"     // the battery-backed RTC
	SourceOfficer Source = "officer" // an officer set it on the page
	SourceNTP     Source = "ntp"     // synchronised with NTP servers
	SourceHost    Source = "host"    // host mode: the host's clock, not driven by us
)

// Mark is a time the box knew, with where it came from.
type Mark struct {
	Time   time.Time `json:"time"`
	Source Source    `json:"source"`
	// Synced: the clock was synchronised when the mark was written.
	Synced bool `json:"synced"`
	// Server (NTP) or By (officer) name the source.
	Server string `json:"server,omitempty"`
	By     string `json:"by,omitempty"`
}

// ReadMark reads a mark file. A missing file is os.ErrNotExist; a file
// that does not parse is an error (the caller ignores it).
func ReadMark(path string) (Mark, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Mark{}, err
	}
	if len(b) > 4096 {
		return Mark{}, fmt.Errorf("clock mark %s: %d bytes", path, len(b))
	}
	var m Mark
	if err := json.Unmarshal(b, &m); err != nil {
		return Mark{}, fmt.Errorf("clock mark %s: %w", path, err)
	}
	if m.Time.IsZero() {
		return Mark{}, fmt.Errorf("clock mark %s: no time", path)
	}
	return m, nil
}

// WriteMark writes a mark crash-safely (atomicfile). It never moves the
// file's time back: if the file holds a later time, that time is kept
// and the rest updated.
func WriteMark(path string, m Mark) error {
	if old, err := ReadMark(path); err == nil && old.Time.After(m.Time) {
		m.Time = old.Time
	}
	m.Time = m.Time.UTC().Round(time.Millisecond)
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// Restore is what init does at boot, once the data partition is mounted:
// if the last known good time under dataDir is later than the clock (no
// RTC, or one that lost its time), the clock is set to it. An RTC at or
// past the mark, written back while synchronised, counts as synchronised.
// It returns the boot source to report and writes it to bootFile (if not
// empty).
func Restore(dataDir, bootFile string, now time.Time, set func(time.Time) error, clockSource Source) (Mark, error) {
	boot := Mark{Time: now, Source: clockSource}
	saved, err := Mark{}, error(os.ErrNotExist)
	if dataDir != "" {
		saved, err = ReadMark(filepath.Join(dataDir, LastGoodFile))
	}
	if err == nil && saved.Time.After(now) {
		if serr := set(saved.Time); serr != nil {
			err = fmt.Errorf("set clock to the last known good time %s: %w", saved.Time.Format(time.RFC3339), serr)
		} else {
			boot = Mark{Time: saved.Time, Source: SourceDisk}
		}
	} else if err == nil && clockSource == SourceRTC && saved.Synced {
		// The box was synchronised when it last wrote the mark, and so
		// wrote the RTC back; the RTC has not lost its time since.
		boot.Synced = true
	}
	if bootFile != "" {
		if werr := os.MkdirAll(filepath.Dir(bootFile), 0o755); werr == nil {
			b, _ := json.Marshal(boot)
			os.WriteFile(bootFile, b, 0o644)
		}
	}
	if os.IsNotExist(err) {
		err = nil
	}
	return boot, err
}

// Advance moves the mark's time on to t (never back), keeping the rest;
// with no readable mark it writes one of unknown source.
func Advance(path string, t time.Time) error {
	m, err := ReadMark(path)
	if err != nil {
		m = Mark{Source: SourceBuild}
	}
	m.Time = t
	return WriteMark(path, m)
}
