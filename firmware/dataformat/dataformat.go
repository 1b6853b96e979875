// Package dataformat is the data partition's format version and the
// ordered list of migrations between versions. The data partition is
// shared by both boot slots and survives updates and rollbacks, so a
// firmware that changes how it stores users, cameras, events or
// recordings brings a migration, and the migration runs only on a
// confirmed slot: never on a trial boot, whose firmware may still be
// rolled back to one that cannot read the new format.
//
// The version is a small JSON file at the top of the data partition
// (FileName), replaced whole through firmware/atomicfile:
//
//	{"version": 2, "compat": 1}
//	{"version": 2, "compat": 1, "migrating": {"to": 3, "name": "...", "done": 1}}
//
// A missing file is version 1, the format of every box before this file
// existed. Migrations[i] takes the data from version i+1 to i+2 in steps;
// each step is idempotent (running it twice gives what running it once
// gives), and "migrating" journals the steps done, so a power cut in the
// middle resumes at the first step not journalled: a step cut halfway is
// run again whole. The version moves on only after the last step.
//
// compat is the oldest format whose firmware still uses this data fully:
// a migration marked Additive (new files, or new JSON fields that older
// readers ignore) keeps it; any other migration raises it to the new
// version. A firmware that finds a version newer than it knows
// (reflashed with an older image, its update rolled back by hand, or a
// newer firmware's migration cut half done) never migrates or rewrites the file: Run reports Newer, and init
// carries on: it boots and records (recordings are files every version
// reads), and when compat is above what it knows, it says on the console
// and in its status that settings written by the newer firmware may be
// misread.
//
// Standard library only: init and the daemon both import it. The daemon
// reads the version with Load when it must choose which format to write:
// until a migration has run (after the new slot is confirmed), it writes
// what the older firmware reads.
package dataformat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// FileName is the version file at the top of the data partition.
const FileName = "data-format.json"

// maxFile bounds what Load reads (a damaged or planted file).
const maxFile = 64 << 10

// Step is one idempotent piece of a migration over the data folder.
type Step struct {
	Name string
	Run  func(ctx context.Context, dataDir string) error
}

// Migration takes the data from one version to the next.
type Migration struct {
	Name string
	// Additive: firmware that knows only the previous version still
	// reads and writes data in the new one (it adds files or JSON
	// fields that older readers ignore).
	Additive bool
	Steps    []Step
}

// Migrations is this firmware's list: Migrations[i] takes version i+1
// to i+2. Empty today: the data format is version 1, the one every box
// has had (see the README for what goes here and how it is tested).
var Migrations []Migration

// File is the version file's content.
type File struct {
	Version int `json:"version"`
	// Compat is the oldest format whose firmware still uses the data.
	Compat    int      `json:"compat"`
	Migrating *Journal `json:"migrating,omitempty"`
}

// Journal is a migration in progress: the steps done so far.
type Journal struct {
	To   int    `json:"to"`
	Name string `json:"name"`
	Done int    `json:"done"`
}

// Load reads the data folder's version (version 1 when there is no file).
func Load(dataDir string) (File, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return File{Version: 1, Compat: 1}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("data format: %w", err)
	}
	if len(b) > maxFile {
		return File{}, fmt.Errorf("data format: %s is %d bytes, more than %d", FileName, len(b), maxFile)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return File{}, fmt.Errorf("data format: %s: %w", FileName, err)
	}
	if f.Compat == 0 {
		f.Compat = 1
	}
	if f.Version < 1 || f.Compat > f.Version {
		return File{}, fmt.Errorf("data format: %s: version %d, compat %d", FileName, f.Version, f.Compat)
	}
	if j := f.Migrating; j != nil && (j.To != f.Version+1 || j.Done < 0) {
		return File{}, fmt.Errorf("data format: %s: migrating to %d (%d steps done) from version %d", FileName, j.To, j.Done, f.Version)
	}
	return f, nil
}

func save(dataDir string, f File) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dataDir, FileName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("data format: %w", err)
	}
	return nil
}

// Set is a data folder with the migrations a firmware knows.
type Set struct {
	Dir        string
	Migrations []Migration
	// Logf, when set, is told each step as it runs.
	Logf func(format string, args ...any)
}

// Latest is the version this firmware reads and writes.
func (s Set) Latest() int { return len(s.Migrations) + 1 }

// Result is what Run found and did.
type Result struct {
	From, To int // version before and after
	Compat   int // of the data now
	// Newer: the data's version is newer than this firmware's Latest;
	// nothing was touched. Compatible says whether this firmware still
	// uses it fully (its Compat is at most Latest).
	Newer      bool
	Compatible bool
	// Toward: a migration a power cut stopped was taking the data to
	// this version (0: none); past Latest it makes the data Newer, and
	// not Compatible (half migrated by a firmware this one is not).
	Toward int
	Steps  int // steps run (journalled steps skipped)
}

// Pending is how many migrations Run would run (0 when the data is
// current or newer).
func (s Set) Pending() (int, error) {
	f, err := Load(s.Dir)
	if err != nil {
		return 0, err
	}
	return max(s.Latest()-f.Version, 0), nil
}

func (s Set) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Run brings the data to Latest, resuming a migration a power cut
// stopped. Call it only on a confirmed slot. It writes the version file
// when the data has none (it records the format this firmware found).
// On data newer than Latest it changes nothing.
func (s Set) Run(ctx context.Context) (Result, error) {
	f, err := Load(s.Dir)
	if err != nil {
		return Result{}, err
	}
	latest := s.Latest()
	res := Result{From: f.Version, To: f.Version, Compat: f.Compat, Compatible: f.Compat <= latest}
	if f.Migrating != nil {
		res.Toward = f.Migrating.To
	}
	if f.Version > latest || res.Toward > latest {
		res.Newer = true
		res.Compatible = res.Compatible && res.Toward <= latest
		return res, nil
	}
	if _, err := os.Stat(filepath.Join(s.Dir, FileName)); errors.Is(err, os.ErrNotExist) {
		if err := save(s.Dir, f); err != nil {
			return res, err
		}
	}
	for f.Version < latest {
		m := s.Migrations[f.Version-1]
		if f.Migrating == nil {
			f.Migrating = &Journal{To: f.Version + 1, Name: m.Name}
			if err := save(s.Dir, f); err != nil {
				return res, err
			}
		}
		for i := f.Migrating.Done; i < len(m.Steps); i++ {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			st := m.Steps[i]
			s.logf("data format %d → %d (%s): step %d/%d %s", f.Version, f.Version+1, m.Name, i+1, len(m.Steps), st.Name)
			if err := st.Run(ctx, s.Dir); err != nil {
				return res, fmt.Errorf("data format %d → %d (%s), step %s: %w", f.Version, f.Version+1, m.Name, st.Name, err)
			}
			res.Steps++
			f.Migrating.Done = i + 1
			if err := save(s.Dir, f); err != nil {
				return res, err
			}
		}
		f.Version, f.Migrating = f.Version+1, nil
		if !m.Additive {
			f.Compat = f.Version
		}
		if err := save(s.Dir, f); err != nil {
			return res, err
		}
		res.To, res.Compat = f.Version, f.Compat
	}
	return res, nil
}
