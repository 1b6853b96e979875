// Package update is the firmware update flow on the box, without HTTP:
// Install receives a bundle, checks signature, board and counter before
// writing anything, streams the parts into the inactive slot while
// hashing, fsyncs and compares what is on the disk, and arms one trial
// boot; the caller reboots. After the reboot, AfterBoot runs the health
// check within a deadline and confirms the new slot, or reports failure
// (the caller reboots, and the boot counter or tryboot brings the old slot
// back); on the old slot it turns the unconfirmed attempt into a
// "rolled back" result for the page. The migration hook runs only after
// the new slot is confirmed. The state of the last attempt is a small
// JSON file on the data partition, which an update never otherwise
// touches.
package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/atomicfile"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/firmware/slot"
)

// StateFile is the last attempt's record, in the updater's state folder
// (on the data partition: /data/update/state.json).
const StateFile = "state.json"

// DefaultDeadline is how long a new slot has to become healthy.
const DefaultDeadline = 3 * time.Minute

// Phases and results of an attempt.
const (
	Writing    = "writing"     // parts are being written into the slot
	Armed      = "armed"       // the trial boot is armed; reboot next
	Confirmed  = "confirmed"   // the new slot passed its health check
	Failed     = "failed"      // the new slot failed its health check (reboot to the old one)
	RolledBack = "rolled-back" // the old slot runs again
	Refused    = "refused"     // the bundle was refused; nothing written
	// Interrupted: the install stopped (power cut, restart) before the
	// new slot was armed; the running version is unchanged.
	Interrupted = "interrupted"
)

// RolledBackMessage is what the page shows after a rollback, Vietnamese
// first, then English.
const (
	RolledBackVI = "Cập nhật thất bại, đã quay về phiên bản cũ"
	RolledBackEN = "Update failed, the previous version was restored"
)

// State is the last attempt.
type State struct {
	Phase   string    `json:"phase"`
	From    string    `json:"from"` // version
	To      string    `json:"to"`
	Counter uint64    `json:"counter"`
	Slot    slot.Slot `json:"slot"` // the slot written
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	Reason  string    `json:"reason,omitempty"`
	// CamerasOnline is how many cameras recorded when the update was
	// installed: the new slot must have at least as many recording.
	CamerasOnline int `json:"camerasOnline"`
	// Tried: the new slot booted and failed its health check.
	Tried bool `json:"tried,omitempty"`
}

// Updater installs bundles on one box.
type Updater struct {
	Booter slot.Booter
	Keys   bundle.Keys
	// Running is the running firmware's release (its board and counter).
	Running firmware.Release
	// StateDir holds StateFile (on the data partition).
	StateDir string
	Now      func() time.Time
}

func (u *Updater) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// LoadState reads the last attempt (zero State when there was none).
func (u *Updater) LoadState() (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(u.StateDir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("update state: %w", err)
	}
	if len(b) > 64<<10 {
		return State{}, errors.New("update state: too large")
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("update state: %w", err)
	}
	return st, nil
}

func (u *Updater) saveState(st State) error {
	st.Updated = u.now().UTC()
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(u.StateDir, StateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	return nil
}

// Inspect reads and verifies a bundle's header (signature, board,
// counter) and returns its manifest, writing nothing: what the page shows
// before the technician confirms.
func (u *Updater) Inspect(r io.Reader) (*bundle.Manifest, error) {
	br, err := bundle.ReadHeader(r, u.Keys, u.policy())
	if err != nil {
		return nil, err
	}
	return &br.Manifest, nil
}

func (u *Updater) policy() bundle.Policy {
	return bundle.Policy{Board: u.Running.Board, Installed: u.Running.Counter}
}

// Progress is told the bundle bytes read so far.
type Progress func(read int64)

// Install writes the bundle from r into the inactive slot and arms its
// trial boot. camerasOnline is how many cameras record now. On success
// the caller reboots with Booter.RebootArg(). A refused bundle (a
// *bundle.Refusal) leaves the slots untouched.
func (u *Updater) Install(ctx context.Context, r io.Reader, camerasOnline int, progress Progress) (*bundle.Manifest, error) {
	boot, err := u.Booter.Running()
	if err != nil {
		return nil, err
	}
	if boot.Trial {
		return nil, errors.New("update: the running firmware is itself on trial; install after it is confirmed")
	}
	cr := &countingReader{r: r, progress: progress}
	br, err := bundle.ReadHeader(cr, u.Keys, u.policy())
	if err != nil {
		u.saveState(State{Phase: Refused, From: u.Running.Version, Started: u.now().UTC(), Reason: err.Error()})
		return nil, err
	}
	m := br.Manifest
	target := boot.Slot.Other()
	st := State{Phase: Writing, From: u.Running.Version, To: m.Release.Version, Counter: m.Release.Counter,
		Slot: target, Started: u.now().UTC(), CamerasOnline: camerasOnline}
	if err := u.saveState(st); err != nil {
		return nil, err
	}
	fail := func(err error) (*bundle.Manifest, error) {
		st.Phase, st.Reason = Refused, err.Error()
		if bundle.ReasonOf(err) == "" {
			st.Phase = Failed
		}
		u.saveState(st)
		return nil, err
	}
	dir, err := u.Booter.Prepare(target)
	if err != nil {
		return fail(err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		p, pr, err := br.Part()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		if err := writePart(filepath.Join(dir, p.Name), pr); err != nil {
			return fail(err)
		}
	}
	// Parts left out of the bundle come from the running slot.
	for _, p := range m.Parts {
		if !p.Omitted {
			continue
		}
		src, err := os.Open(filepath.Join(u.Booter.Dir(boot.Slot), p.Name))
		if err != nil {
			return fail(fmt.Errorf("update: part %s is left out of the bundle and the running slot lacks it: %w", p.Name, err))
		}
		err = writePart(filepath.Join(dir, p.Name), io.LimitReader(src, p.Size+1))
		src.Close()
		if err != nil {
			return fail(err)
		}
	}
	// Compare what the disk holds with the manifest, omitted parts too.
	for _, p := range m.Parts {
		if err := checkFile(filepath.Join(dir, p.Name), p); err != nil {
			return fail(err)
		}
	}
	if err := slot.SyncDir(dir); err != nil {
		return fail(err)
	}
	if err := u.Booter.Arm(target, m.Release.Counter); err != nil {
		return fail(err)
	}
	st.Phase = Armed
	if err := u.saveState(st); err != nil {
		return nil, err
	}
	return &m, nil
}

// writePart streams r into path (through path.new, fsync, rename).
func writePart(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	_, err = io.Copy(f, r)
	if err = atomicfile.SyncClose(f, err); err != nil {
		os.Remove(tmp)
		var rf *bundle.Refusal
		if errors.As(err, &rf) {
			return err
		}
		return fmt.Errorf("update: write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// checkFile reads path back and compares size and SHA-256.
func checkFile(path string, p bundle.Part) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("update: read back %s: %w", p.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("update: read back %s: %w", p.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != p.Size || got != p.SHA256 {
		return fmt.Errorf("update: %s on the disk differs from the bundle (%d bytes, sha256 %s; want %d, %s)", p.Name, n, got, p.Size, p.SHA256)
	}
	return nil
}

type countingReader struct {
	r        io.Reader
	n        int64
	progress Progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.n)
	}
	return n, err
}

// Health is the new slot's check: nil when the box is healthy, else why
// not. AfterBoot calls it repeatedly until it passes or the deadline ends.
type Health func(ctx context.Context, st State) error

// Outcome is what AfterBoot did.
type Outcome struct {
	// Phase: "" (nothing pending), Confirmed, Failed (reboot now: the old
	// slot comes back), RolledBack (the old slot runs) or Interrupted.
	Phase  string
	State  State
	Reason string
}

// AfterBoot is run by init once the data partition is mounted and the
// daemon started. On a trial boot it waits up to deadline for health to
// pass, then confirms the slot and runs migrate; if health never passes
// it records why and returns Failed (migrate never runs): the caller
// reboots. On a normal boot, whose slot is confirmed, it records the
// outcome of an attempt that never got confirmed (a rollback), then runs
// migrate (a migration a power cut stopped resumes there). migrate
// (firmware/dataformat's Set.Run in init) may be nil.
func (u *Updater) AfterBoot(ctx context.Context, health Health, deadline time.Duration, migrate func(ctx context.Context) error) (Outcome, error) {
	boot, err := u.Booter.Running()
	if err != nil {
		return Outcome{}, err
	}
	st, err := u.LoadState()
	if err != nil {
		return Outcome{}, err
	}
	if !boot.Trial {
		out, err := u.afterNormalBoot(boot, st)
		if err == nil && migrate != nil {
			if merr := migrate(ctx); merr != nil {
				err = fmt.Errorf("update: data migration: %w", merr)
			}
		}
		return out, err
	}
	return u.afterTrialBoot(ctx, boot, st, health, deadline, migrate)
}

// afterNormalBoot records what became of an unconfirmed attempt.
func (u *Updater) afterNormalBoot(boot slot.Boot, st State) (Outcome, error) {
	if st.Phase == Writing {
		st.Phase, st.Reason = Interrupted, "the install was interrupted (power cut or restart) before the new slot was armed; the running version is unchanged"
		return Outcome{Phase: Interrupted, State: st, Reason: st.Reason}, u.saveState(st)
	}
	if (st.Phase == Armed || st.Phase == Failed && st.Tried) && st.Slot != "" {
		if st.Slot == boot.Slot {
			// Confirmed, but the power went before the state said so.
			st.Phase = Confirmed
			return Outcome{Phase: Confirmed, State: st}, u.saveState(st)
		}
		if st.Reason == "" {
			st.Reason = "the new firmware did not come up healthy (it was reset before its health check passed)"
		}
		st.Phase = RolledBack
		return Outcome{Phase: RolledBack, State: st, Reason: st.Reason}, u.saveState(st)
	}
	return Outcome{State: st}, nil
}

// afterTrialBoot waits for health, confirms, then migrates.
func (u *Updater) afterTrialBoot(ctx context.Context, boot slot.Boot, st State, health Health, deadline time.Duration, migrate func(ctx context.Context) error) (Outcome, error) {
	if deadline <= 0 {
		deadline = DefaultDeadline
	}
	cctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last error
	for {
		if last = health(cctx, st); last == nil {
			break
		}
		select {
		case <-cctx.Done():
			st.Phase, st.Tried, st.Reason = Failed, true, fmt.Sprintf("health check not passed within %s: %v", deadline, last)
			u.saveState(st)
			return Outcome{Phase: Failed, State: st, Reason: st.Reason}, nil
		case <-time.After(time.Second):
		}
	}
	if err := u.Booter.Confirm(); err != nil {
		return Outcome{}, fmt.Errorf("update: confirm slot %s: %w", boot.Slot, err)
	}
	st.Phase, st.Reason = Confirmed, ""
	if err := u.saveState(st); err != nil {
		return Outcome{}, err
	}
	if migrate != nil {
		if err := migrate(ctx); err != nil {
			return Outcome{Phase: Confirmed, State: st}, fmt.Errorf("update: migration after confirming: %w", err)
		}
	}
	return Outcome{Phase: Confirmed, State: st}, nil
}

// MaxBundle bounds a received bundle (a full one is about 17 MB).
const MaxBundle = 64 << 20

// Receive saves a bundle from r to path (through path.part, fsync,
// rename) while checking it: the header first (signature, board,
// counter: a refused bundle stops the upload there), then every part's
// size and SHA-256 as it streams. It writes nothing outside path. The
// saved bundle is checked again when Install reads it.
func (u *Updater) Receive(r io.Reader, path string) (*bundle.Manifest, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	tmp := path + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	defer os.Remove(tmp) // after the rename, a no-op
	lim := &io.LimitedReader{R: r, N: MaxBundle + 1}
	tee := io.TeeReader(lim, f)
	br, err := bundle.ReadHeader(tee, u.Keys, u.policy())
	if err == nil {
		err = br.Drain()
	}
	if err == nil && lim.N <= 0 {
		err = fmt.Errorf("update: bundle larger than %d bytes", MaxBundle)
	}
	if err = atomicfile.SyncClose(f, err); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	return &br.Manifest, nil
}
