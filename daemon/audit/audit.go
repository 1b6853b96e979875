// Package audit keeps the box's audit log: every login, failed login, view
// of live or recorded video, export and change, appended to a file where each
// record carries the SHA-256 of the one before it. Editing, removing or
// reordering any record breaks the chain, and Verify says where.
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
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
	// Prev is the previous record's Hash ("" for the first); Hash is the
	// SHA-256 of this record's JSON with Hash empty.
	Prev string `json:"prev"`
	Hash string `json:"hash"`
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
	Change      = "change"
	Denied      = "denied"
)

func (r Record) digest() string {
	r.Hash = ""
	b, _ := json.Marshal(r) // a Record always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Log is an append-only hash-chained file of records.
type Log struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	f       *os.File
	seq     uint64
	last    string
	written uint64 // records written to the file

	syncMu sync.Mutex
	synced uint64 // records known to be on disk
}

// Open opens (creating) the log at path and reads its tail to continue the
// chain. A torn last line (power cut while writing) is cut off and reported
// by Verify as a break only if it was complete.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l := &Log{path: path, now: time.Now, f: f}
	var good int64
	var off int64
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var r Record
			if json.Unmarshal(line, &r) == nil {
				l.seq, l.last = r.Seq, r.Hash
			}
			off += int64(len(line))
			good = off
		}
		if err != nil {
			break
		}
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log: cut torn tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return l, nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// Append adds a record (Seq, Time, Prev and Hash are filled in) and syncs it
// to disk before returning. Concurrent appends share fsyncs (group commit).
func (l *Log) Append(r Record) (Record, error) {
	r, gen, err := l.write(r)
	if err != nil {
		return r, err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= gen {
		return r, nil // another append's fsync covered this record
	}
	l.mu.Lock()
	target := l.written
	l.mu.Unlock()
	if err := l.f.Sync(); err != nil {
		return r, fmt.Errorf("audit append: %w", err)
	}
	l.synced = target
	return r, nil
}

func (l *Log) write(r Record) (Record, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Seq = l.seq + 1
	if r.Time.IsZero() {
		r.Time = l.now().UTC()
	}
	r.Prev = l.last
	r.Hash = r.digest()
	b, err := json.Marshal(r)
	if err != nil {
		return r, 0, fmt.Errorf("audit append: %w", err)
	}
	b = append(b, '\n')
	if _, err := l.f.Write(b); err != nil {
		return r, 0, fmt.Errorf("audit append: %w", err)
	}
	l.seq, l.last = r.Seq, r.Hash
	l.written++
	return r, l.written, nil
}

// Head is the chain head: the last record's sequence number and hash.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.last
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

// Read returns up to limit matching records, newest first.
func (l *Log) Read(f Filter, limit int) ([]Record, error) {
	all, err := l.readAll()
	if err != nil {
		return nil, err
	}
	var out []Record
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		if f.match(all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

func (l *Log) readAll() ([]Record, error) {
	b, err := os.ReadFile(l.path)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	var out []Record
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			r = Record{Action: "unreadable", Detail: strings.ToValidUTF8(string(line), "?")}
		}
		out = append(out, r)
	}
	return out, nil
}

// Verification is the result of checking the chain.
type Verification struct {
	Records int    `json:"records"`
	OK      bool   `json:"ok"`
	BadSeq  uint64 `json:"bad_seq,omitempty"`
	Problem string `json:"problem,omitempty"`
	Head    string `json:"head,omitempty"`
}

// ErrBroken marks a broken chain.
var ErrBroken = errors.New("audit chain broken")

// Verify checks every record's hash and link.
func (l *Log) Verify() (Verification, error) {
	b, err := os.ReadFile(l.path)
	if err != nil {
		return Verification{}, fmt.Errorf("verify audit log: %w", err)
	}
	return VerifyBytes(b), nil
}

// VerifyBytes checks a log's content.
func VerifyBytes(b []byte) Verification {
	v := Verification{OK: true}
	prev := ""
	var seq uint64
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return Verification{Records: v.Records, BadSeq: seq + 1, Problem: fmt.Sprintf("line %d is not a record", i+1)}
		}
		v.Records++
		switch {
		case r.Seq != seq+1:
			v.Problem = fmt.Sprintf("record %d follows %d (missing or reordered records)", r.Seq, seq)
		case r.Prev != prev:
			v.Problem = fmt.Sprintf("record %d does not link to the one before", r.Seq)
		case r.digest() != r.Hash:
			v.Problem = fmt.Sprintf("record %d was altered", r.Seq)
		}
		if v.Problem != "" {
			v.OK, v.BadSeq = false, seq+1
			return v
		}
		seq, prev = r.Seq, r.Hash
	}
	v.Head = prev
	return v
}
