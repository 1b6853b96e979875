// Package audit keeps the box's audit log: every login, failed login, view
// of live or recorded video, export and change, appended to a file where each
// record carries the SHA-256 of the one before it. Editing, removing or
// reordering any record breaks the chain, and Verify says where.
//
// What a web client can make it spend is bounded: every field is cleaned and
// capped (see clean), denials are aggregated to one line per source, actor
// and minute (Deny), and the files together stay inside a disk budget
// (Options.Budget): the log rotates into numbered files (audit.log.<first
// seq>), the chain continues across them, and when they pass the budget the
// oldest are deleted and a "pruned" record says which records went and the
// hash of the last of them, so that Verify can tell pruning from tampering.
//
// The head of the chain is signed with the box's key at least hourly and on
// Close: a "checkpoint" record carries the signed (seq, hash, time) of the
// record before it, and a side file (audit.log.head) holds the latest
// signed head. Verify then also finds records removed from the end (the
// signed head names a record the log no longer has) and a chain recomputed
// after removing records in the middle (a signed hash no longer matches).
// Records written after the last checkpoint are protected by the chain
// alone; an export manifest carries the head (Head) for the same reason.
package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// Record is one line of the log.
type Record struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Role   string    `json:"role,omitempty"`
	IP     string    `json:"ip,omitempty"`
	Action string    `json:"action"`
	Camera string    `json:"camera,omitempty"`
	Detail string    `json:"detail,omitempty"`
	// Count is how many events one record stands for (aggregated denials).
	Count int `json:"count,omitempty"`
	// Head is the signed head of the chain (Action Checkpoint).
	Head *Head `json:"head,omitempty"`
	// Span names the records a Pruned record says were deleted.
	Span *Span `json:"span,omitempty"`
	// Prev is the previous record's Hash ("" for the first); Hash is the
	// SHA-256 of this record's JSON with Hash empty.
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// Head is a signed head of the chain: the record with Seq has Hash.
type Head struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	// Sig is the ed25519 signature of Message(), in hex.
	Sig string `json:"sig"`
}

// Message is the byte string the box signs for a head.
func (h Head) Message() []byte {
	return fmt.Appendf(nil, "matthan audit head\n%d\n%s\n%s\n", h.Seq, h.Hash, h.Time.UTC().Format(time.RFC3339Nano))
}

// Valid reports whether h is signed by pub.
func (h Head) Valid(pub ed25519.PublicKey) bool {
	sig, err := hex.DecodeString(h.Sig)
	return err == nil && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, h.Message(), sig)
}

// Span is a range of deleted records: From..To, the last of which had LastHash.
type Span struct {
	From     uint64 `json:"from"`
	To       uint64 `json:"to"`
	LastHash string `json:"last_hash"`
}

// Actions written by the web page.
const (
	Login       = "login"
	LoginFailed = "login_failed"
	Logout      = "logout"
	Setup       = "setup"
	LiveView    = "live_view"
	Playback    = "playback"
	Export      = "export"
	Download    = "download" // a plain clip (not the signed export) downloaded
	Change      = "change"
	Denied      = "denied"
	// FirmwareUpdate: a bundle received or refused, an install asked
	// for, done or failed.
	FirmwareUpdate = "firmware_update"
)

// Actions written by the log itself.
const (
	Checkpoint = "checkpoint" // Head is the signed head before this record
	Pruned     = "pruned"     // Span names records deleted to keep the budget
	Gap        = "gap"        // a torn tail was cut, or records could not be written
)

func (r Record) digest() string {
	r.Hash = ""
	b, _ := json.Marshal(r) // a Record always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Options configure a Log. Zero values pick the defaults beside them.
type Options struct {
	// Sign signs a head (ed25519 over Head.Message); nil writes no
	// checkpoints.
	Sign func([]byte) []byte
	// PublicKey checks the signed heads in Verify; nil skips that check.
	PublicKey ed25519.PublicKey
	// Budget is the disk space of all the log's files (default 16 MiB).
	Budget int64
	// CheckpointEvery is the longest time between signed heads while
	// records are written (default 1 h).
	CheckpointEvery time.Duration
	Now             func() time.Time
	// Location is the zone of the times written into details people read
	// (default UTC); records themselves keep UTC.
	Location *time.Location
}

// DefaultBudget is the audit log's disk budget when Options.Budget is 0.
const DefaultBudget = 16 << 20

// Log is an append-only hash-chained file of records.
type Log struct {
	path string
	opt  Options
	now  func() time.Time

	mu        sync.Mutex
	f         *os.File
	size      int64  // bytes of whole records in f
	firstSeq  uint64 // seq of the first record in f (or the next one when empty)
	seq       uint64
	last      string
	written   uint64 // records written to the file
	lastCk    time.Time
	ckSeq     uint64 // seq of the last checkpoint record
	lost      int    // records that could not be written since the last success
	lostErr   error
	lostAt    time.Time
	denied    map[denyKey]*denyAgg
	rotations int  // files rotated since Open
	closing   bool // Close has begun
	closed    bool

	syncMu sync.Mutex
	synced uint64 // records known to be on disk

	stop chan struct{}
	done chan struct{}
}

// Open opens (creating) the log at path and reads its tail to continue the
// chain. A torn tail (a power cut while writing) is cut off and a Gap record
// says how many bytes went. opts is at most one Options.
func Open(path string, opts ...Options) (*Log, error) {
	var opt Options
	if len(opts) > 0 {
		opt = opts[0]
	}
	if opt.Budget <= 0 {
		opt.Budget = DefaultBudget
	}
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = time.Hour
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	// A disk too full to make the file (f == nil): the first write that
	// can make it does, and a Gap record counts the ones that could not.
	l := &Log{path: path, opt: opt, now: opt.Now, f: f, denied: map[denyKey]*denyAgg{}, stop: make(chan struct{}), done: make(chan struct{})}
	var good int64
	var torn []byte
	if f != nil {
		if good, torn, err = l.scanTail(); err != nil {
			f.Close()
			return nil, err
		}
	}
	if l.seq == 0 {
		// The current file is empty (new, or just rotated): continue from
		// the newest rotated file.
		if err := l.continueFromRotated(); err != nil {
			f.Close()
			return nil, err
		}
	}
	l.size = good
	l.firstSeq = l.seq + 1
	if first, ok := firstRecord(path); ok {
		l.firstSeq = first.Seq
	}
	if len(torn) > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("open audit log: cut torn tail: %w", err)
		}
		// On a full disk the Gap record waits (counted as lost) for the
		// next write that fits.
		if _, err := l.writeLocked(Record{Actor: "system", Action: Gap, Detail: string(torn)}); err == nil {
			f.Sync()
		}
	}
	if h, err := readHeadFile(path); err == nil {
		l.lastCk, l.ckSeq = h.Time, h.Seq
	}
	go l.background()
	return l, nil
}

// scanTail reads the current file: it sets seq and last from its last
// record and returns the length of the whole records and a description of
// the bytes after the last one (a torn tail; nil when there are none).
func (l *Log) scanTail() (good int64, torn []byte, err error) {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return 0, nil, fmt.Errorf("open audit log: %w", err)
	}
	br := bufio.NewReader(l.f)
	var off int64
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			var r Record
			if line[len(line)-1] == '\n' && json.Unmarshal(line, &r) == nil && r.Seq > 0 {
				l.seq, l.last = r.Seq, r.Hash
				good = off + int64(len(line))
			}
			off += int64(len(line))
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, nil, fmt.Errorf("open audit log: %w", rerr)
		}
	}
	if off == good {
		return good, nil, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(l.f, good, off-good)); err != nil {
		return 0, nil, fmt.Errorf("open audit log: %w", err)
	}
	return good, fmt.Appendf(nil, "%d bytes of an unfinished record (power cut while writing) were cut from the end of the log at open; their sha256 was %x", off-good, h.Sum(nil)), nil
}

// Close writes pending denials and a signed checkpoint, then closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil
	}
	l.closing = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushDeniedLocked(time.Time{})
	var errs []error
	if l.ckSeq != l.seq {
		if err := l.checkpointLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	if l.f != nil {
		errs = append(errs, l.f.Sync(), l.f.Close())
	}
	l.closed = true
	return errors.Join(errs...)
}

// Head returns the seq and hash of the last record written.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.last
}

// Append adds a record (Seq, Time, Prev and Hash are filled in; fields are
// cleaned and capped) and syncs it to disk before returning. Concurrent
// appends share fsyncs (group commit).
func (l *Log) Append(r Record) (Record, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return r, errors.New("audit append: log closed")
	}
	l.flushDeniedLocked(l.now())
	r, err := l.writeLocked(r)
	gen := l.written
	l.mu.Unlock()
	if err != nil {
		return r, err
	}
	return r, l.commit(gen)
}

// commit fsyncs up to record gen (unless another append did), then rotates
// and checkpoints when due.
func (l *Log) commit(gen uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced < gen {
		l.mu.Lock()
		target, f := l.written, l.f
		l.mu.Unlock()
		// f stays open: rotation needs syncMu, held here.
		if err := f.Sync(); err != nil {
			return fmt.Errorf("audit append: %w", err)
		}
		l.synced = max(l.synced, target)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maintainLocked()
}

// maintainLocked rotates a full file and writes a checkpoint when one is
// due (under syncMu and mu).
func (l *Log) maintainLocked() error {
	if l.closed {
		return nil
	}
	var errs []error
	if l.size >= l.fileMax() {
		errs = append(errs, l.rotateLocked())
	}
	// (a clock set back, a box without a clock battery, counts as due)
	if d := l.now().Sub(l.lastCk); l.opt.Sign != nil && l.ckSeq != l.seq && (d >= l.opt.CheckpointEvery || d < 0) {
		errs = append(errs, l.checkpointLocked())
	}
	return errors.Join(errs...)
}

// background flushes aggregated denials when their minute is over and
// checkpoints hourly while nothing is appended.
func (l *Log) background() {
	defer close(l.done)
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.syncMu.Lock()
		l.mu.Lock()
		l.flushDeniedLocked(l.now())
		l.maintainLocked()
		if l.synced < l.written && l.f.Sync() == nil {
			l.synced = l.written
		}
		l.mu.Unlock()
		l.syncMu.Unlock()
	}
}

// checkpointLocked signs the head and writes a checkpoint record, then the
// side file naming the checkpoint record itself (under syncMu and mu).
func (l *Log) checkpointLocked() error {
	if l.opt.Sign == nil {
		return nil
	}
	now := l.now().UTC()
	h := Head{Seq: l.seq, Hash: l.last, Time: now}
	h.Sig = hex.EncodeToString(l.opt.Sign(h.Message()))
	r, err := l.writeLocked(Record{Actor: "system", Action: Checkpoint, Time: now, Head: &h})
	if err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	l.synced = l.written
	l.lastCk, l.ckSeq = now, r.Seq
	side := Head{Seq: r.Seq, Hash: r.Hash, Time: now}
	side.Sig = hex.EncodeToString(l.opt.Sign(side.Message()))
	return writeHeadFile(l.path, side)
}

// writeLocked cleans r, links it to the chain and writes it (under mu). A
// write that fails is cut off again, and the next record that can be
// written is preceded by a Gap record counting the lost ones.
func (l *Log) writeLocked(r Record) (Record, error) {
	if l.lost > 0 {
		n, first, cause := l.lost, l.lostAt, l.lostErr
		l.lost = 0
		_, err := l.writeOne(Record{Actor: "system", Action: Gap, Count: n,
			Detail: fmt.Sprintf("%d audit records could not be written from %s: %v", n, first.In(l.opt.Location).Format(time.RFC3339), cause)})
		if err != nil {
			l.lost = n
			l.noteLost(r, err)
			return r, err
		}
	}
	out, err := l.writeOne(r)
	if err != nil {
		l.noteLost(r, err)
	}
	return out, err
}

func (l *Log) noteLost(r Record, err error) {
	if l.lost == 0 {
		l.lostAt, l.lostErr = l.now(), err
	}
	l.lost += max(r.Count, 1)
}

func (l *Log) writeOne(r Record) (Record, error) {
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return r, fmt.Errorf("audit append: %w", err)
		}
		l.f, l.size = f, 0
		atomicfile.SyncDir(filepath.Dir(l.path))
	}
	r = cleanRecord(r)
	r.Seq = l.seq + 1
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	r.Time = r.Time.UTC()
	r.Prev = l.last
	r.Hash = r.digest()
	b, err := json.Marshal(r)
	if err != nil {
		return r, fmt.Errorf("audit append: %w", err)
	}
	b = append(b, '\n')
	if _, err := l.f.WriteAt(b, l.size); err != nil {
		l.f.Truncate(l.size) // a partial line would break the chain for good
		return r, fmt.Errorf("audit append: %w", err)
	}
	if l.size == 0 {
		l.firstSeq = r.Seq
	}
	l.size += int64(len(b))
	l.seq, l.last = r.Seq, r.Hash
	l.written++
	return r, nil
}

// Filter selects records for Read. Zero fields match everything.
type Filter struct {
	Actor, Action, Camera string
	From, To              time.Time
}

func (f Filter) match(r Record) bool {
	return (f.Actor == "" || r.Actor == f.Actor) &&
		(f.Action == "" || r.Action == f.Action) &&
		(f.Camera == "" || r.Camera == f.Camera) &&
		(f.From.IsZero() || !r.Time.Before(f.From)) &&
		(f.To.IsZero() || r.Time.Before(f.To))
}

// Read returns up to limit matching records, newest first, from every
// file of the log. Denials still being aggregated are written first.
func (l *Log) Read(f Filter, limit int) ([]Record, error) {
	l.flushDenied()
	l.mu.Lock()
	files, err := l.files()
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []Record
	for i := len(files) - 1; i >= 0 && len(out) < limit; i-- {
		b, err := l.readFile(files[i])
		if err != nil {
			return nil, err
		}
		recs := parseRecords(b)
		for j := len(recs) - 1; j >= 0 && len(out) < limit; j-- {
			if f.match(recs[j]) {
				out = append(out, recs[j])
			}
		}
	}
	return out, nil
}

// readFile reads one file of the log; the current one only up to its
// whole records (under mu, so no half-written line is read).
func (l *Log) readFile(name string) ([]byte, error) {
	if name != l.path {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil // pruned meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		return b, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil, nil
	}
	b := make([]byte, l.size)
	if _, err := l.f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return b, nil
}

func parseRecords(b []byte) []Record {
	var out []Record
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			r = Record{Action: "unreadable", Detail: clean(string(line[:min(len(line), maxDetail)]), maxDetail)}
		}
		out = append(out, r)
	}
	return out
}

// ErrBroken marks a broken chain.
var ErrBroken = errors.New("audit chain broken")

// Verify checks every record's hash and link across all the log's files,
// the signed checkpoints and the signed head file.
func (l *Log) Verify() (Verification, error) {
	l.flushDenied()
	// Appends go on meanwhile (reading 16 MiB takes a second or more on
	// the box); a rotation while the files are read makes the result
	// unreliable, so it is done again, the third time with rotation held
	// off (syncMu).
	for try := 0; ; try++ {
		if try == 2 {
			l.syncMu.Lock()
			defer l.syncMu.Unlock()
		}
		l.mu.Lock()
		files, err := l.files()
		gen, ck := l.rotations, l.ckSeq
		l.mu.Unlock()
		if err != nil {
			return Verification{}, err
		}
		v, err := verifyFiles(files, l.path, l.opt.PublicKey, l.readFile)
		l.mu.Lock()
		same := l.rotations == gen
		// The first checkpoint's record is written before its side file: a
		// read that falls between the two sees a checkpoint and no head
		// file. Only a checkpoint made meanwhile explains that; read again.
		firstCheckpointMeanwhile := ck == 0 && l.ckSeq != 0 && v.Problem == problemHeadFileMissing
		l.mu.Unlock()
		if (same && !firstCheckpointMeanwhile) || try == 2 {
			return v, err
		}
	}
}

// fileMax is the size at which the current file is rotated: an eighth of
// the budget, so that pruning deletes about an eighth at a time.
func (l *Log) fileMax() int64 { return max(l.opt.Budget/8, 4096) }
