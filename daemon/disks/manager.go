package disks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// Target is what records onto the disk (the card's storage.Store, through
// the daemon's wiring): AttachDisk opens the recordings on the mounted
// disk's folder and records there; DetachDisk stops using it (the disk was
// unplugged), recording falls back to the card.
type Target interface {
	AttachDisk(dir string) error
	DetachDisk(reason error)
}

// State is where recordings go.
type State string

// States of the recording disk.
const (
	OnCard    State = "card"      // no recording disk: recording to the card
	OnDisk    State = "disk"      // recording to the USB disk
	Lost      State = "lost"      // the disk was lost: recording to the card, alarm
	Preparing State = "preparing" // formatting the confirmed disk
)

// Status is what the page shows.
type Status struct {
	Disks []Disk `json:"disks"`
	State State  `json:"state"`
	// Recording is the disk recorded to (State disk).
	Recording *Disk     `json:"recording,omitempty"`
	Since     time.Time `json:"since"`
	// Alarm is set while the recording disk is lost (Vietnamese / English).
	Alarm string `json:"alarm,omitempty"`
	// Problem is the last failure (a disk that would not mount…).
	Problem string `json:"problem,omitempty"`
	// Expected is the recording disk the box knows (kept on the card
	// across reboots), nil when it records to the card by choice.
	Expected *Remembered `json:"expected,omitempty"`
}

// Remembered is the recording disk as kept in Options.StateFile, so that a
// box that boots without its disk raises the alarm instead of quietly
// recording to the card.
type Remembered struct {
	Vendor    string    `json:"vendor,omitempty"`
	Model     string    `json:"model,omitempty"`
	Serial    string    `json:"serial,omitempty"`
	SizeBytes int64     `json:"sizeBytes"`
	Since     time.Time `json:"since"`
}

// Options configure a Manager.
type Options struct {
	Sys      Sys           // default Host
	MountDir string        // where the recording disk is mounted; default /run/matthan/recdisk
	Tools    Tools         // default BoxTools
	Interval time.Duration // how often the disks are looked at; default 2 s
	Target   Target
	Logf     func(format string, args ...any)
	Log      io.Writer // e2fsck and mke2fs output; nil discards
	Now      func() time.Time
	// StateFile keeps the recording disk's identity (on the card's data
	// partition); "" keeps nothing.
	StateFile string
	// Grace is how long after start a remembered disk may take to appear
	// before the alarm (USB disks spin up and enumerate); default 30 s.
	Grace time.Duration

	// For tests: nil means the real ones.
	Format  func(ctx context.Context, d Disk) (part string, err error)
	Mount   func(ctx context.Context, part, dir string) error
	Unmount func(dir string) error
	SMART   func(dev string) (string, error)
}

// Manager watches the USB disks, adopts a recording disk that is plugged in
// (one holding a matthan-rec file system), formats one a technician
// confirmed, and notices when the recording disk goes away.
type Manager struct {
	opts Options
	op   sync.Mutex // one adopt, format or loss at a time

	mu       sync.Mutex
	disks    []Disk
	state    State
	active   *Disk
	since    time.Time
	problem  string
	started  time.Time
	expected *Remembered
	// smart caches each disk's SMART verdict (by ID), asked when the disk
	// is first seen and every hour after.
	smart map[string]smartAnswer
	// failed holds disks (by ID) that failed while recording: they are not
	// adopted again until they are unplugged and come back.
	failed map[string]bool
}

// New returns a Manager; Run or Poll make it look at the disks.
func New(opts Options) *Manager {
	if opts.Sys == (Sys{}) {
		opts.Sys = Host
	}
	if opts.MountDir == "" {
		opts.MountDir = "/run/matthan/recdisk"
	}
	if opts.Tools == (Tools{}) {
		opts.Tools = BoxTools
	}
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Grace <= 0 {
		opts.Grace = 30 * time.Second
	}
	m := &Manager{opts: opts, state: OnCard, since: opts.Now(), started: opts.Now(), failed: map[string]bool{}}
	if opts.StateFile != "" {
		if b, err := os.ReadFile(opts.StateFile); err == nil {
			var r Remembered
			if err := json.Unmarshal(b, &r); err != nil {
				opts.Logf("disks: %s unreadable (%v): no recording disk expected", opts.StateFile, err)
			} else {
				m.expected = &r
			}
		}
	}
	if m.opts.Format == nil {
		m.opts.Format = func(ctx context.Context, d Disk) (string, error) {
			return Format(ctx, m.opts.Sys, d, m.opts.Tools, m.opts.Log)
		}
	}
	if m.opts.Mount == nil {
		m.opts.Mount = func(ctx context.Context, part, dir string) error {
			return Mount(ctx, part, dir, m.opts.Tools, m.opts.Log)
		}
	}
	if m.opts.Unmount == nil {
		m.opts.Unmount = Unmount
	}
	if m.opts.SMART == nil {
		m.opts.SMART = SMARTStatus
	}
	m.smart = map[string]smartAnswer{}
	return m
}

// MountDir is where the recording disk is mounted.
func (m *Manager) MountDir() string { return m.opts.MountDir }

// Run polls the disks until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		m.Poll(ctx)
		select {
		case <-ctx.Done():
			m.op.Lock()
			if m.Status().State == OnDisk {
				m.opts.Unmount(m.opts.MountDir) // lazily: the store closes its files after
			}
			m.op.Unlock()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Status is a snapshot for the page.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{Disks: append([]Disk{}, m.disks...), State: m.state, Since: m.since, Problem: m.problem, Expected: m.expected}
	if m.active != nil {
		a := *m.active
		st.Recording = &a
	}
	if m.state == Lost {
		st.Alarm = "Mất ổ ghi hình USB: đang ghi vào thẻ nhớ. Hãy kiểm tra hoặc cắm lại ổ. / Recording disk lost: recording to the SD card. Check or plug the disk back in."
	}
	return st
}

// Alarm reports whether the recording disk is lost (the status LED shows a
// disk problem).
func (m *Manager) Alarm() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == Lost
}

// Poll looks at the disks once: notices the recording disk's loss, and
// adopts a recording disk when none is in use.
func (m *Manager) Poll(ctx context.Context) {
	m.op.Lock()
	defer m.op.Unlock()
	disks, err := Scan(m.opts.Sys)
	if err != nil {
		m.opts.Logf("disks: %v", err)
		return
	}
	m.askSMART(disks)
	m.mu.Lock()
	m.disks = disks
	present := map[string]bool{}
	for _, d := range disks {
		present[d.ID] = true
	}
	for id := range m.failed {
		if !present[id] {
			delete(m.failed, id) // unplugged: adopted again when it comes back
		}
	}
	for id := range m.smart {
		if !present[id] {
			delete(m.smart, id)
		}
	}
	active := m.active
	m.mu.Unlock()

	if active != nil {
		if d := find(disks, active.ID); d == nil || d.Health.State == "offline" {
			reason := fmt.Errorf("disk %s (%s) unplugged", active.Name, active.Model)
			if d != nil {
				reason = fmt.Errorf("disk %s (%s) offline", active.Name, active.Model)
			}
			m.opts.Target.DetachDisk(reason)
			m.lose(reason)
		}
		return
	}
	defer m.missing()
	for _, d := range disks {
		m.mu.Lock()
		skip := m.failed[d.ID]
		m.mu.Unlock()
		if d.Content != Recording || d.InUse != "" || skip || d.Health.State != "" && d.Health.State != "running" {
			continue
		}
		if err := m.adopt(ctx, d, RecordingPartition(d).Dev); err != nil {
			m.opts.Logf("disks: %v", err)
			m.mu.Lock()
			m.failed[d.ID] = true
			m.problem = err.Error()
			m.mu.Unlock()
			continue
		}
		return
	}
}

type smartAnswer struct {
	verdict string
	at      time.Time
	// baseline is the device's ioerr_cnt when the box first saw it: USB
	// bridges often fail a command or two while the kernel probes them
	// (QEMU's usb-storage does), which says nothing of the disk's health.
	baseline int64
	// ownErrors counts the errors the SMART questions added to the
	// device's ioerr_cnt: the kernel counts any pass-through command that
	// ends in CHECK CONDITION, which a bridge without SAT answers, and
	// which even a successful SMART RETURN STATUS with CK_COND returns.
	ownErrors int64
}

// askSMART fills in the disks' SMART verdicts, asking a drive when it is
// first seen and every hour after, and turns their I/O error counts into
// errors since the box first saw them, its own questions left out (m.op
// held).
func (m *Manager) askSMART(disks []Disk) {
	now := m.opts.Now()
	for i := range disks {
		d := &disks[i]
		m.mu.Lock()
		a, ok := m.smart[d.ID]
		m.mu.Unlock()
		running := d.Health.State == "" || d.Health.State == "running"
		if !ok && running { // an offline disk's errors are its story: all shown
			a.baseline = d.Health.IOErrors
		}
		// The count Scan read holds the questions asked before this look.
		d.Health.IOErrors = max(0, d.Health.IOErrors-a.baseline-a.ownErrors)
		if !running {
			if !ok {
				a.verdict, a.at = SMARTUnavailable, now.Add(-time.Hour) // asked once it runs
				m.mu.Lock()
				m.smart[d.ID] = a
				m.mu.Unlock()
			}
			d.Health.SMART = a.verdict
			continue
		}
		if !ok || now.Sub(a.at) >= time.Hour {
			before := readIOErrors(d.ioErrFile)
			v, err := m.opts.SMART(d.Dev)
			if err != nil && !ok {
				m.opts.Logf("disks: %s: SMART %s: %v", d.Name, v, err)
			}
			a = smartAnswer{v, now, a.baseline, a.ownErrors + max(0, readIOErrors(d.ioErrFile)-before)}
			m.mu.Lock()
			m.smart[d.ID] = a
			m.mu.Unlock()
			if v == SMARTFailing {
				m.opts.Logf("disks: %s (%s %s): SMART says the drive is failing", d.Name, d.Vendor, d.Model)
			}
		}
		d.Health.SMART = a.verdict
	}
}

// adopt mounts part of d and records onto it (m.op held).
func (m *Manager) adopt(ctx context.Context, d Disk, part string) error {
	dir := m.opts.MountDir
	if err := m.opts.Mount(ctx, part, dir); err != nil {
		return err
	}
	if err := m.opts.Target.AttachDisk(dir); err != nil {
		m.opts.Unmount(dir)
		return fmt.Errorf("disks: record onto %s: %w", part, err)
	}
	m.opts.Logf("disks: recording onto %s (%s %s, %d GB) mounted on %s", part, d.Vendor, d.Model, d.SizeBytes/1e9, dir)
	r := &Remembered{Vendor: d.Vendor, Model: d.Model, Serial: d.Serial, SizeBytes: d.SizeBytes, Since: m.opts.Now()}
	if err := m.remember(r); err != nil {
		m.opts.Logf("disks: %v", err)
	}
	m.mu.Lock()
	m.active, m.state, m.since, m.problem, m.expected = &d, OnDisk, m.opts.Now(), "", r
	m.mu.Unlock()
	return nil
}

// missing raises the alarm when a remembered recording disk has not come
// within the grace time after start.
func (m *Manager) missing() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == OnCard && m.active == nil && m.expected != nil && m.opts.Now().Sub(m.started) >= m.opts.Grace {
		m.state, m.since = Lost, m.opts.Now()
		m.problem = fmt.Sprintf("the recording disk (%s %s, serial %s) is not attached", m.expected.Vendor, m.expected.Model, m.expected.Serial)
		m.opts.Logf("disks: %s", m.problem)
	}
}

// remember writes r to the state file (nil removes it), durably.
func (m *Manager) remember(r *Remembered) error {
	p := m.opts.StateFile
	if p == "" {
		return nil
	}
	if r == nil {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disks: forget the recording disk: %w", err)
		}
		return atomicfile.SyncDir(filepath.Dir(p))
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := atomicfile.Write(p, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("disks: remember the recording disk: %w", err)
	}
	return nil
}

// Forget makes the box record to the card by choice: the lost or missing
// recording disk is no longer expected and the alarm ends. Refused while a
// disk is recorded to (unplug it first).
func (m *Manager) Forget() error {
	m.op.Lock()
	defer m.op.Unlock()
	m.mu.Lock()
	busy := m.active != nil || m.state == Preparing
	m.mu.Unlock()
	if busy {
		return fmt.Errorf("%w: recording onto it now: unplug it first", ErrNotConfirmable)
	}
	if err := m.remember(nil); err != nil {
		return err
	}
	m.mu.Lock()
	m.expected, m.state, m.since, m.problem = nil, OnCard, m.opts.Now(), ""
	m.mu.Unlock()
	m.opts.Logf("disks: no recording disk expected: recording to the card")
	return nil
}

// Lost is called when recording onto the disk failed (an I/O error): the
// disk is let go and not adopted again until it is plugged in again.
func (m *Manager) Lost(reason error) {
	go func() { // called from the recorder's write path: never hold it up
		m.op.Lock()
		defer m.op.Unlock()
		m.lose(reason)
	}()
}

// lose marks the active disk lost and unmounts it (m.op held).
func (m *Manager) lose(reason error) {
	m.mu.Lock()
	if m.active == nil {
		m.mu.Unlock()
		return
	}
	m.failed[m.active.ID] = true
	m.active, m.state, m.since, m.problem = nil, Lost, m.opts.Now(), reason.Error()
	m.mu.Unlock()
	m.opts.Logf("disks: recording disk lost: %v", reason)
	if err := m.opts.Unmount(m.opts.MountDir); err != nil {
		m.opts.Logf("disks: %v", err)
	}
}

// ErrNotConfirmable is returned by Confirm for a disk that may not be made
// the recording disk.
var ErrNotConfirmable = errors.New("disks: this disk cannot be made the recording disk")

// Confirm makes the disk id (Disk.ID, as the page showed it) the recording
// disk: formats it unless it already is one, mounts it and records onto it.
// The one way a disk is ever formatted.
func (m *Manager) Confirm(ctx context.Context, id string) error {
	m.op.Lock()
	defer m.op.Unlock()
	disks, err := Scan(m.opts.Sys)
	if err != nil {
		return err
	}
	d := find(disks, id)
	if d == nil {
		return fmt.Errorf("%w: %s is not attached (any more)", ErrNotFound, id)
	}
	m.mu.Lock()
	busy := m.active != nil
	m.mu.Unlock()
	switch {
	case busy:
		return fmt.Errorf("%w: a recording disk is in use", ErrNotConfirmable)
	case d.InUse != "":
		return fmt.Errorf("%w: %s is mounted on %s", ErrNotConfirmable, d.Dev, d.InUse)
	case d.ReadOnly:
		return fmt.Errorf("%w: %s is read-only", ErrNotConfirmable, d.Dev)
	case d.Health.State != "" && d.Health.State != "running":
		return fmt.Errorf("%w: %s is %s", ErrNotConfirmable, d.Dev, d.Health.State)
	}
	part := ""
	if p := RecordingPartition(*d); p != nil {
		part = p.Dev
	} else {
		m.mu.Lock()
		prev := m.state
		m.mu.Unlock()
		m.setState(Preparing)
		m.opts.Logf("disks: formatting %s (%s %s, %d bytes) as the recording disk", d.Dev, d.Vendor, d.Model, d.SizeBytes)
		if part, err = m.opts.Format(ctx, *d); err != nil {
			m.setState(prev)
			m.mu.Lock()
			m.problem = err.Error()
			m.mu.Unlock()
			return err
		}
	}
	m.mu.Lock()
	delete(m.failed, d.ID)
	m.mu.Unlock()
	if err := m.adopt(ctx, *d, part); err != nil {
		m.mu.Lock()
		if m.state == Preparing {
			m.state = OnCard
		}
		m.problem = err.Error()
		m.mu.Unlock()
		return err
	}
	return nil
}

func (m *Manager) setState(s State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state, m.since = s, m.opts.Now()
}

func find(disks []Disk, id string) *Disk {
	for i := range disks {
		if disks[i].ID == id {
			return &disks[i]
		}
	}
	return nil
}
