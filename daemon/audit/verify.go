package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Verification is the result of checking the chain.
type Verification struct {
	Records int    `json:"records"`
	OK      bool   `json:"ok"`
	BadSeq  uint64 `json:"bad_seq,omitempty"`
	Problem string `json:"problem,omitempty"`
	Head    string `json:"head,omitempty"`
	// Files is how many files were read; FirstSeq and LastSeq are the
	// records they hold (records before FirstSeq were pruned for the
	// budget, as a Pruned record says).
	Files    int    `json:"files,omitempty"`
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// Checkpoints counts signed heads in the log; Signed is true when
	// their signatures were checked against the box key.
	Checkpoints int  `json:"checkpoints,omitempty"`
	Signed      bool `json:"signed,omitempty"`
	// SignedHead is the record the side file's signed head names.
	SignedHead uint64    `json:"signed_head,omitempty"`
	SignedAt   time.Time `json:"signed_at,omitzero"`
	// Gaps counts Gap records (torn tails cut, records not written).
	Gaps int `json:"gaps,omitempty"`
}

// verifier checks records fed to it in order, file after file.
type verifier struct {
	pub       ed25519.PublicKey
	side      *Head
	v         Verification
	seq       uint64
	prev      string
	firstPrev string
	spans     []Span
	done      bool
}

func newVerifier(pub ed25519.PublicKey, side *Head) *verifier {
	return &verifier{pub: pub, side: side, v: Verification{OK: true, Signed: len(pub) == ed25519.PublicKeySize}}
}

func (c *verifier) fail(seq uint64, format string, args ...any) bool {
	c.v.OK, c.v.BadSeq, c.v.Problem, c.done = false, seq, fmt.Sprintf(format, args...), true
	return false
}

// feed checks one file's content; it returns false at the first problem.
func (c *verifier) feed(name string, b []byte) bool {
	if c.done {
		return false
	}
	c.v.Files++
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return c.fail(c.seq+1, "%s line %d is not a record", name, i+1)
		}
		if c.v.Records == 0 {
			c.v.FirstSeq, c.firstPrev = r.Seq, r.Prev
			if r.Seq == 0 {
				return c.fail(1, "%s line %d has no sequence number", name, i+1)
			}
		} else {
			switch {
			case r.Seq != c.seq+1:
				return c.fail(c.seq+1, "record %d follows %d (missing or reordered records)", r.Seq, c.seq)
			case r.Prev != c.prev:
				return c.fail(r.Seq, "record %d does not link to the one before", r.Seq)
			}
		}
		if r.digest() != r.Hash {
			return c.fail(r.Seq, "record %d was altered", r.Seq)
		}
		c.v.Records++
		switch r.Action {
		case Checkpoint:
			h := r.Head
			if h == nil || h.Seq != r.Seq-1 || h.Hash != r.Prev {
				return c.fail(r.Seq, "checkpoint %d does not name the record before it", r.Seq)
			}
			if c.v.Signed && !h.Valid(c.pub) {
				return c.fail(r.Seq, "checkpoint %d is not signed by the box key: the chain was rewritten", r.Seq)
			}
			c.v.Checkpoints++
		case Pruned:
			if r.Span != nil {
				c.spans = append(c.spans, *r.Span)
			}
		case Gap:
			c.v.Gaps++
		}
		if c.side != nil && r.Seq == c.side.Seq && r.Hash != c.side.Hash {
			return c.fail(r.Seq, "record %d is not the one signed at %s: the chain was rewritten", r.Seq, c.side.Time.UTC().Format(time.RFC3339))
		}
		c.seq, c.prev = r.Seq, r.Hash
	}
	return true
}

// finish checks the start of the chain and the signed head file.
func (c *verifier) finish() Verification {
	if c.done {
		return c.v
	}
	c.v.Head, c.v.LastSeq = c.prev, c.seq
	if c.v.Records > 0 {
		first := c.v.FirstSeq
		switch {
		case first == 1 && c.firstPrev != "":
			c.fail(1, "record 1 links to a record before it")
			return c.v
		case first > 1:
			var found *Span
			for i := range c.spans {
				if s := c.spans[i]; s.From <= first && first <= s.To+1 {
					found = &s
				}
			}
			if found == nil {
				c.fail(first, "the log starts at record %d and no pruned record accounts for the records before it", first)
				return c.v
			}
			if first == found.To+1 && c.firstPrev != found.LastHash {
				c.fail(first, "record %d does not link to the last pruned record", first)
				return c.v
			}
		}
	}
	if c.side != nil {
		s := c.side
		c.v.SignedHead, c.v.SignedAt = s.Seq, s.Time
		if c.v.Signed && !s.Valid(c.pub) {
			c.fail(s.Seq, "the signed head file is not signed by the box key")
			return c.v
		}
		if s.Seq > c.seq {
			c.fail(c.seq+1, "the log ends at record %d but the head signed at %s is record %d: records were removed from the end", c.seq, s.Time.UTC().Format(time.RFC3339), s.Seq)
			return c.v
		}
	} else if c.v.Signed && c.v.Checkpoints > 0 {
		c.fail(c.seq, problemHeadFileMissing)
	}
	return c.v
}

// VerifyBytes checks one file's content as a whole log, without keys.
func VerifyBytes(b []byte) Verification {
	c := newVerifier(nil, nil)
	c.feed("line", b)
	return c.finish()
}

// VerifyFiles checks the log at path (its rotated files, the current file
// and the signed head beside it) with the box's public key (nil: the
// signatures are not checked).
func VerifyFiles(path string, pub ed25519.PublicKey) (Verification, error) {
	names, _, err := rotated(path)
	if err != nil {
		return Verification{}, err
	}
	return verifyFiles(append(names, path), path, pub, func(name string) ([]byte, error) {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	})
}

// problemHeadFileMissing is Verification.Problem when the log holds signed
// checkpoints but the side file with the latest signed head is gone.
const problemHeadFileMissing = "the signed head file is missing"

func verifyFiles(names []string, path string, pub ed25519.PublicKey, read func(string) ([]byte, error)) (Verification, error) {
	h, err := readHeadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Verification{}, fmt.Errorf("verify audit log: %w", err)
	}
	var side *Head
	if err == nil {
		side = &h
	}
	c := newVerifier(pub, side)
	for _, name := range names {
		b, err := read(name)
		if err != nil {
			return Verification{}, fmt.Errorf("verify audit log: %w", err)
		}
		if !c.feed(filepath.Base(name), b) {
			break
		}
	}
	return c.finish(), nil
}
