// Package faultfs wraps a storage.FS to test what the store does when the
// disk misbehaves: a size quota that makes writes fail with ENOSPC (a full
// disk without root or a loop device), and a journal of creates and fsyncs
// from which a test rebuilds what a power cut would have left on disk.
package faultfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/matthan/matthan/daemon/storage"
)

// FS is a storage.FS with faults. The zero Quota means unlimited.
type FS struct {
	Base storage.FS
	// Quota is the size of the simulated disk in bytes: Statfs reports it,
	// and writes beyond it write what fits and fail with ENOSPC.
	Quota int64
	// Report, if set, receives a line for every create, file fsync and
	// directory fsync: "create PATH", "sync PATH SIZE", "syncdir DIR".
	Report io.Writer

	mu     sync.Mutex
	fail   error // SetFail
	used   int64
	enospc int
	sizes  map[string]int64
}

// New wraps base (storage.OS when nil).
func New(base storage.FS) *FS {
	if base == nil {
		base = storage.OS
	}
	return &FS{Base: base, sizes: map[string]int64{}}
}

// SetFail makes every later operation fail with err, as a disk that was
// unplugged or died (syscall.EIO); nil heals it.
func (f *FS) SetFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *FS) failed(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: name, Err: f.fail}
}

// ENOSPC is how many writes failed for want of space (the quota's or the
// real file system's).
func (f *FS) ENOSPC() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enospc
}

// Used is the bytes the simulated disk holds.
func (f *FS) Used() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

func (f *FS) report(format string, args ...any) {
	if f.Report != nil {
		fmt.Fprintf(f.Report, format+"\n", args...)
	}
}

// OpenFile opens a file whose writes count against the quota.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (storage.File, error) {
	if err := f.failed("open", name); err != nil {
		return nil, err
	}
	created := false
	inner, err := f.Base.OpenFile(name, flag&^(os.O_CREATE|os.O_TRUNC), perm)
	if err == nil && flag&os.O_TRUNC != 0 {
		inner.Close()
		inner, err = f.Base.OpenFile(name, flag, perm)
	} else if os.IsNotExist(err) && flag&os.O_CREATE != 0 {
		created = true
		inner, err = f.Base.OpenFile(name, flag, perm)
	}
	if err != nil {
		return nil, err
	}
	fi, err := inner.Stat()
	if err != nil {
		inner.Close()
		return nil, err
	}
	f.mu.Lock()
	f.used += fi.Size() - f.sizes[name]
	f.sizes[name] = fi.Size()
	f.mu.Unlock()
	if created {
		f.report("create %s", name)
	} else if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		f.report("open %s %d", name, fi.Size())
	}
	return &file{File: inner, fs: f, name: name}, nil
}

type file struct {
	storage.File
	fs   *FS
	name string
}

func (w *file) Write(p []byte) (int, error) {
	return w.WriteParts([][]byte{p})
}

// WriteParts writes parts with one vectored write of the base file (as the
// store does), cut at the quota like Write.
func (w *file) WriteParts(parts [][]byte) (int, error) {
	f := w.fs
	if err := f.failed("write", w.name); err != nil {
		return 0, err
	}
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	f.mu.Lock()
	room := int64(total)
	if f.Quota > 0 {
		room = max(0, min(room, f.Quota-f.used))
	}
	f.mu.Unlock()
	cut := parts
	if room < int64(total) {
		cut = nil
		left := int(room)
		for _, p := range parts {
			if left == 0 {
				break
			}
			n := min(left, len(p))
			cut = append(cut, p[:n])
			left -= n
		}
	}
	n, err := storage.WriteParts(w.File, cut)
	if err == nil && room < int64(total) {
		err = &os.PathError{Op: "write", Path: w.name, Err: syscall.ENOSPC}
	}
	f.mu.Lock()
	f.used += int64(n)
	f.sizes[w.name] += int64(n)
	if errors.Is(err, syscall.ENOSPC) {
		f.enospc++ // ours or the real file system's
	}
	f.mu.Unlock()
	return n, err
}

func (w *file) Truncate(size int64) error {
	if err := w.fs.failed("truncate", w.name); err != nil {
		return err
	}
	if err := w.File.Truncate(size); err != nil {
		return err
	}
	f := w.fs
	f.mu.Lock()
	f.used += size - f.sizes[w.name]
	f.sizes[w.name] = size
	f.mu.Unlock()
	return nil
}

func (w *file) Sync() error {
	if err := w.fs.failed("fsync", w.name); err != nil {
		return err
	}
	if err := w.File.Sync(); err != nil {
		return err
	}
	fi, err := w.File.Stat()
	if err != nil {
		return err
	}
	w.fs.report("sync %s %d", w.name, fi.Size())
	return nil
}

// Remove removes a file and gives its bytes back.
func (f *FS) Remove(name string) error {
	if err := f.failed("remove", name); err != nil {
		return err
	}
	if err := f.Base.Remove(name); err != nil {
		return err
	}
	f.mu.Lock()
	f.used -= f.sizes[name]
	delete(f.sizes, name)
	f.mu.Unlock()
	return nil
}

// Rename renames a file (the journal's compaction).
func (f *FS) Rename(oldname, newname string) error {
	if err := f.Base.Rename(oldname, newname); err != nil {
		return err
	}
	f.mu.Lock()
	f.used -= f.sizes[newname]
	f.sizes[newname] = f.sizes[oldname]
	delete(f.sizes, oldname)
	f.mu.Unlock()
	f.report("rename %s %s", oldname, newname)
	return nil
}

func (f *FS) Mkdir(name string, perm os.FileMode) error {
	if err := f.failed("mkdir", name); err != nil {
		return err
	}
	return f.Base.Mkdir(name, perm)
}

func (f *FS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := f.failed("readdir", name); err != nil {
		return nil, err
	}
	return f.Base.ReadDir(name)
}

func (f *FS) SyncDir(name string) error {
	if err := f.failed("fsync", name); err != nil {
		return err
	}
	if err := f.Base.SyncDir(name); err != nil {
		return err
	}
	f.report("syncdir %s", name)
	return nil
}

// Statfs reports the quota as the disk's size when set.
func (f *FS) Statfs(name string) (int64, int64, error) {
	if err := f.failed("statfs", name); err != nil {
		return 0, 0, err
	}
	if f.Quota == 0 {
		return f.Base.Statfs(name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return max(0, f.Quota-f.used), f.Quota, nil
}

// Durable tracks the lines of a Report to know what a power cut would keep.
type Durable struct {
	created map[string]bool  // created, entry not yet fsynced in its folder
	synced  map[string]int64 // last fsynced size
	order   []string
}

// NewDurable returns an empty tracker.
func NewDurable() *Durable {
	return &Durable{created: map[string]bool{}, synced: map[string]int64{}}
}

// Line applies one Report line.
func (d *Durable) Line(line string) {
	var a, b string
	var n int64
	switch {
	case scan(line, "create %s", &a):
		d.created[a] = true
		if _, ok := d.synced[a]; !ok {
			d.order = append(d.order, a)
		}
		d.synced[a] = 0
	case scan(line, "open %s %d", &a, &n):
		if _, ok := d.synced[a]; !ok {
			d.synced[a] = n // there before: durable as found
		}
	case scan(line, "sync %s %d", &a, &n):
		d.synced[a] = n
	case scan(line, "syncdir %s", &a):
		for p := range d.created {
			if filepath.Dir(p) == a {
				delete(d.created, p)
			}
		}
	case scan(line, "rename %s %s", &a, &b):
		d.synced[b] = d.synced[a]
		delete(d.synced, a)
	}
}

func scan(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args)
}

// PowerCut makes the files on disk look as a power cut would have left
// them: files whose creation was never made durable by a folder fsync
// disappear, every other file is cut back to its last fsynced size.
func (d *Durable) PowerCut() error {
	for p, size := range d.synced {
		if d.created[p] {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return err
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Size() > size {
			if err := os.Truncate(p, size); err != nil {
				return err
			}
		}
	}
	return nil
}

// Fd passes the descriptor of a real file through (the store preallocates
// segment blocks with it); ^0 when the base file has none.
func (w *file) Fd() uintptr {
	if f, ok := w.File.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}
