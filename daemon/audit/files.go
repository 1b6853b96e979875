package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// rotatedName is the name of a rotated file whose first record is seq.
func rotatedName(path string, seq uint64) string { return fmt.Sprintf("%s.%012d", path, seq) }

// rotated lists the rotated files of the log at path, oldest first, with
// the seq of their first record.
func rotated(path string) ([]string, []uint64, error) {
	names, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, nil, fmt.Errorf("audit log files: %w", err)
	}
	type rf struct {
		name string
		seq  uint64
	}
	var fs []rf
	for _, n := range names {
		suf := n[len(path)+1:]
		if len(suf) < 12 || strings.Trim(suf, "0123456789") != "" {
			continue
		}
		seq, err := strconv.ParseUint(suf, 10, 64)
		if err != nil {
			continue
		}
		fs = append(fs, rf{n, seq})
	}
	slices.SortFunc(fs, func(a, b rf) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	out := make([]string, len(fs))
	seqs := make([]uint64, len(fs))
	for i, f := range fs {
		out[i], seqs[i] = f.name, f.seq
	}
	return out, seqs, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// files lists every file of the log, oldest first, the current one last.
func (l *Log) files() ([]string, error) {
	names, _, err := rotated(l.path)
	if err != nil {
		return nil, err
	}
	return append(names, l.path), nil
}

// lastRecord returns the last whole record of a file.
func lastRecord(name string) (Record, bool) {
	b, err := os.ReadFile(name)
	if err != nil {
		return Record{}, false
	}
	lines := bytes.Split(b, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		var r Record
		if len(lines[i]) > 0 && json.Unmarshal(lines[i], &r) == nil && r.Seq > 0 {
			return r, true
		}
	}
	return Record{}, false
}

// firstRecord returns the first record of a file.
func firstRecord(name string) (Record, bool) {
	f, err := os.Open(name)
	if err != nil {
		return Record{}, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	var r Record
	if err != nil || json.Unmarshal(line, &r) != nil || r.Seq == 0 {
		return Record{}, false
	}
	return r, true
}

// continueFromRotated takes seq and hash from the newest rotated file
// when the current one holds no record.
func (l *Log) continueFromRotated() error {
	names, _, err := rotated(l.path)
	if err != nil {
		return err
	}
	for i := len(names) - 1; i >= 0; i-- {
		if r, ok := lastRecord(names[i]); ok {
			l.seq, l.last = r.Seq, r.Hash
			return nil
		}
	}
	return nil
}

// rotateLocked renames the current file to its rotated name, starts a new
// one (the chain goes on: its first record links to the last hash) and
// prunes the oldest files over the budget (under syncMu and mu).
func (l *Log) rotateLocked() error {
	if l.size == 0 {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit rotate: %w", err)
	}
	l.synced = l.written
	old := rotatedName(l.path, l.firstSeq)
	if err := os.Rename(l.path, old); err != nil {
		return fmt.Errorf("audit rotate: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		// Keep writing to the renamed file: it is still the newest.
		if rerr := os.Rename(old, l.path); rerr != nil {
			return fmt.Errorf("audit rotate: %w (and renaming back: %v)", err, rerr)
		}
		return fmt.Errorf("audit rotate: %w", err)
	}
	l.f.Close()
	l.f, l.size, l.firstSeq = f, 0, l.seq+1
	l.rotations++
	atomicfile.SyncDir(filepath.Dir(l.path))
	return l.pruneLocked()
}

// pruneLocked deletes the oldest rotated files while the log is over its
// budget, leaving room for a full current file. The Pruned record naming
// them is written and synced before they are deleted, so a crash in
// between leaves a log that still verifies.
func (l *Log) pruneLocked() error {
	names, seqs, err := rotated(l.path)
	if err != nil {
		return err
	}
	var total int64
	sizes := make([]int64, len(names))
	for i, n := range names {
		if st, err := os.Stat(n); err == nil {
			sizes[i] = st.Size()
			total += st.Size()
		}
	}
	limit := l.opt.Budget - l.fileMax() - headFileMax
	n := 0
	for n < len(names)-1 && total > limit { // the newest rotated file stays
		total -= sizes[n]
		n++
	}
	if n == 0 {
		return nil
	}
	last, ok := lastRecord(names[n-1])
	to := seqs[n] - 1
	if ok {
		to = last.Seq
	}
	span := &Span{From: seqs[0], To: to, LastHash: last.Hash}
	_, err = l.writeLocked(Record{Actor: "system", Action: Pruned, Span: span,
		Detail: fmt.Sprintf("records %d to %d deleted to keep the audit log within its budget of %d bytes", span.From, span.To, l.opt.Budget)})
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("audit prune: %w", err)
	}
	l.synced = l.written
	var errs []error
	for _, name := range names[:n] {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("audit prune: %w", err))
		}
	}
	atomicfile.SyncDir(filepath.Dir(l.path))
	return errors.Join(errs...)
}

// headFileMax bounds the side file holding the signed head.
const headFileMax = 1024

func headPath(path string) string { return path + ".head" }

// readHeadFile reads the latest signed head.
func readHeadFile(path string) (Head, error) {
	var h Head
	b, err := os.ReadFile(headPath(path))
	if err != nil {
		return h, err
	}
	if len(b) > headFileMax {
		return h, fmt.Errorf("%s: %d bytes is too long for a signed head", headPath(path), len(b))
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("%s: %w", headPath(path), err)
	}
	return h, nil
}

// writeHeadFile replaces the side file atomically.
func writeHeadFile(path string, h Head) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	if err := atomicfile.Write(headPath(path), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	return nil
}
