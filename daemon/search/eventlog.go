package search

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/matthan/matthan/daemon/events"
)

// eventLog is the truth of the event store: an append-only file of whole
// events, each record checksummed, fsynced once per batch. An event is
// committed when the batch holding it is fsynced here. Bleve and the
// timeline are derived from it: bleve records in its own batches how far
// into the log it has indexed (logMark), so an index that lost its last
// writes (a power cut; scorch does not fsync its directory) re-indexes the
// tail, and a damaged one is rebuilt from the whole log.
//
// Layout: a 16-byte header (magic "MTEVLOG1" and a random 8-byte
// generation, new each time the log is rewritten), then records:
// length uint32 LE, CRC-32C of the payload uint32 LE, payload (the event
// as JSON). The first record that is short or fails its checksum ends the
// log (a torn last write) and is cut off at open.
//
// A rewrite (retention, the size budget) writes path+".rewrite" and
// renames it over path. Versions before this one renamed each rewrite to
// one more ".new" (events.log.new.new…) and read the old events.log at the
// next start; Open merges such files back first (recoverStray).
type eventLog struct {
	path string
	f    *os.File
	gen  uint64
	end  int64 // length of the whole records; 0 while the header is unwritten
}

const (
	logMagic   = "MTEVLOG1"
	logHdrSize = 16
	recHdrSize = 8
	maxRecord  = 1 << 20
)

var errNotEventLog = errors.New("not an event log")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// openEventLog opens (or makes) the log at path and calls each for every
// whole record, in order, with its offset. A new log whose header cannot be
// written (a full disk) opens empty; the header is written with the first
// batch that fits.
func openEventLog(path string, each func(off int64, e events.Event)) (*eventLog, error) {
	os.Remove(path + ".rewrite") // a rewrite cut short: path is whole
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("search: open event log: %w", err)
	}
	l := &eventLog{path: path, f: f}
	var hdr [logHdrSize]byte
	n, err := io.ReadFull(f, hdr[:])
	if n == logHdrSize && string(hdr[:8]) != logMagic {
		f.Close()
		return nil, fmt.Errorf("search: %s: %w", path, errNotEventLog)
	}
	if err != nil {
		// New or torn at birth: start it (later, when the disk is full).
		l.start()
		return l, nil
	}
	l.gen = binary.LittleEndian.Uint64(hdr[8:])
	l.end = logHdrSize
	if err := l.scan(logHdrSize, func(off int64, e events.Event) error { each(off, e); return nil }); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(l.end); err != nil { // cut a torn tail
		f.Close()
		return nil, fmt.Errorf("search: cut event log: %w", err)
	}
	return l, nil
}

// strayNames lists the files an older version's rewrite left beside path
// (path+".new", path+".new.new", …), shortest (oldest) first.
func strayNames(path string) ([]string, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	var out []string
	for _, e := range es {
		suf, ok := strings.CutPrefix(e.Name(), base)
		if ok && suf != "" && strings.Trim(strings.ReplaceAll(suf, ".new", "/"), "/") == "" && !e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(a) - len(b) })
	return out, nil
}

// recoverStray merges the files an older version's rewrites left (see
// eventLog) into path. Each rewrite renamed the next log to one more
// ".new" and went on appending to it, so the longest name holds the newest
// events, and events.log the oldest; a rewrite cut short left a partial
// copy. The merge keeps every event found in any of them, the version in
// the newest file when one was republished; events that retention had
// already deleted come back until its next run (losing none was chosen
// over that). The merged log is written beside path and renamed over it,
// then the stray files are removed.
func recoverStray(path string) error {
	strays, err := strayNames(path)
	if err != nil || len(strays) == 0 {
		return err
	}
	var order []string
	byID := map[string]events.Event{}
	for _, name := range append([]string{path}, strays...) {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("search: recover %s: %w", name, err)
		}
		var hdr [logHdrSize]byte
		if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:8]) != logMagic {
			f.Close()
			continue // not an event log: left alone
		}
		l := &eventLog{path: name, f: f, end: logHdrSize}
		l.scan(logHdrSize, func(_ int64, e events.Event) error {
			if _, ok := byID[e.ID]; !ok {
				order = append(order, e.ID)
			}
			byID[e.ID] = e
			return nil
		})
		f.Close()
	}
	tmp := path + ".recover"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("search: recover event log: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(logHeader(newGen()))
	var b []byte
	for _, id := range order {
		e := byID[id]
		if b, err = encodeRecord(b[:0], &e); err != nil {
			continue // too long to have been written: cannot happen
		}
		w.Write(b)
	}
	err = errors.Join(w.Flush(), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("search: recover event log: %w", err)
	}
	syncDir(path)
	for _, s := range strays {
		os.Remove(s)
	}
	syncDir(path)
	return nil
}

func newGen() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

func logHeader(gen uint64) []byte {
	h := make([]byte, logHdrSize)
	copy(h, logMagic)
	binary.LittleEndian.PutUint64(h[8:], gen)
	return h
}

// start writes the header of an empty log; on failure (a full disk) the
// log stays empty and append tries again.
func (l *eventLog) start() error {
	if l.f == nil {
		// Open could not make it (see unopened): make it now, never
		// over a file that exists.
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("search: start event log: %w", err)
		}
		l.f = f
	}
	l.gen = newGen()
	l.end = 0
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("search: start event log: %w", err)
	}
	if _, err := l.f.WriteAt(logHeader(l.gen), 0); err != nil {
		l.f.Truncate(0)
		return fmt.Errorf("search: start event log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("search: start event log: %w", err)
	}
	syncDir(l.path)
	l.end = logHdrSize
	return nil
}

// scan reads whole records from off; it sets l.end after the last whole
// record when it reaches the end of the file or a bad record.
func (l *eventLog) scan(off int64, each func(off int64, e events.Event) error) error {
	if l.end < logHdrSize {
		return nil // not started: empty
	}
	r := bufio.NewReaderSize(io.NewSectionReader(l.f, off, 1<<62), 1<<20)
	var h [recHdrSize]byte
	buf := make([]byte, 0, 512)
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			break
		}
		n := binary.LittleEndian.Uint32(h[:])
		if n == 0 || n > maxRecord {
			break
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		if crc32.Checksum(buf, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
			break
		}
		var e events.Event
		if err := json.Unmarshal(buf, &e); err != nil {
			break
		}
		if err := each(off, e); err != nil {
			return err
		}
		off += recHdrSize + int64(n)
	}
	l.end = max(l.end, off)
	return nil
}

func encodeRecord(b []byte, e *events.Event) ([]byte, error) {
	j, err := json.Marshal(e)
	if err != nil {
		return b, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	if len(j) > maxRecord {
		return b, fmt.Errorf("event %.40q: %d bytes is too long", e.ID, len(j))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(j)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(j, crcTable))
	return append(b, j...), nil
}

// append writes a batch and fsyncs it; it returns each event's offset.
func (l *eventLog) append(evs []events.Event) ([]int64, error) {
	if l.end < logHdrSize {
		if err := l.start(); err != nil {
			return nil, err
		}
	}
	var b []byte
	offs := make([]int64, len(evs))
	for i := range evs {
		offs[i] = l.end + int64(len(b))
		var err error
		if b, err = encodeRecord(b, &evs[i]); err != nil {
			return nil, err
		}
	}
	if _, err := l.f.WriteAt(b, l.end); err != nil {
		l.f.Truncate(l.end)
		return nil, fmt.Errorf("event log append: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return nil, fmt.Errorf("event log sync: %w", err)
	}
	l.end += int64(len(b))
	return offs, nil
}

// read returns the event whose record starts at off.
func (l *eventLog) read(off int64) (events.Event, error) {
	var e events.Event
	var h [recHdrSize]byte
	if _, err := l.f.ReadAt(h[:], off); err != nil {
		return e, fmt.Errorf("event log read at %d: %w", off, err)
	}
	n := binary.LittleEndian.Uint32(h[:])
	if n == 0 || n > maxRecord {
		return e, fmt.Errorf("event log read at %d: bad length %d", off, n)
	}
	buf := make([]byte, n)
	if _, err := l.f.ReadAt(buf, off+recHdrSize); err != nil {
		return e, fmt.Errorf("event log read at %d: %w", off, err)
	}
	if crc32.Checksum(buf, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
		return e, fmt.Errorf("event log read at %d: checksum mismatch", off)
	}
	if err := json.Unmarshal(buf, &e); err != nil {
		return e, fmt.Errorf("event log read at %d: %w", off, err)
	}
	return e, nil
}

// rewrite copies the records keep accepts into a new log with a new
// generation and renames it over the old one. moved is called with each
// kept event's new offset.
func (l *eventLog) rewrite(keep func(off int64, e events.Event) bool, moved func(id string, off int64)) error {
	// The real name, kept: l.f.Name() is the temporary one after a rewrite.
	path := l.path
	tmp := path + ".rewrite"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("event log rewrite: %w", err)
	}
	gen := newGen()
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(logHeader(gen))
	end := int64(logHdrSize)
	var b []byte
	type mv struct {
		id  string
		off int64
	}
	var mvs []mv
	err = l.scan(logHdrSize, func(off int64, e events.Event) error {
		if !keep(off, e) {
			return nil
		}
		var err error
		if b, err = encodeRecord(b[:0], &e); err != nil {
			return err
		}
		w.Write(b)
		mvs = append(mvs, mv{e.ID, end})
		end += int64(len(b))
		return nil
	})
	if err == nil {
		err = errors.Join(w.Flush(), f.Sync())
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("event log rewrite: %w", err)
	}
	syncDir(path)
	l.f.Close()
	l.f, l.gen, l.end = f, gen, end
	for _, m := range mvs {
		moved(m.id, m.off)
	}
	return nil
}

func (l *eventLog) close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// unopened is a log Open could not open or make (a full disk, a card that
// refuses writes): it holds nothing, and its first append makes the file
// if there is none by then.
func unopened(path string) *eventLog { return &eventLog{path: path} }

// syncDir fsyncs the directory holding path, so that a file made or
// renamed there survives a power cut.
func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
}
