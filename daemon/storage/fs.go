package storage

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// File is the part of *os.File the store uses. Tests wrap it to inject
// ENOSPC or to simulate a power cut (forget what was not fsynced).
type File interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// FS is the file system under the store. OS is the real one.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	Mkdir(name string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	// SyncDir makes a directory's entries (creates, renames, removes) durable.
	SyncDir(name string) error
	// Statfs reports the bytes available to us and the file system's size.
	Statfs(name string) (avail, total int64, err error)
}

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// PartsWriter is a File that writes several buffers with one system call
// (writev), as one write of their concatenation. Files of OS implement it.
type PartsWriter interface {
	WriteParts(parts [][]byte) (int, error)
}

// WriteParts writes parts to f as if they were one buffer: with one writev
// when f is a PartsWriter, else one Write per part. Like Write, it returns
// the number of bytes written and an error if that is not all of them.
func WriteParts(f io.Writer, parts [][]byte) (int, error) {
	if pw, ok := f.(PartsWriter); ok {
		return pw.WriteParts(parts)
	}
	total := 0
	for _, p := range parts {
		n, err := f.Write(p)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// osFile is an *os.File that also writes vectors.
type osFile struct{ *os.File }

// WriteParts writes parts with writev, repeating after a short write or an
// interrupted call until all is written or an error occurs.
func (f osFile) WriteParts(parts [][]byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var buf [4][]byte
	rest := append(buf[:0], parts...) // trimmed as bytes go out; parts stays intact
	written := 0
	for len(rest) > 0 {
		if len(rest[0]) == 0 {
			rest = rest[1:]
			continue
		}
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), rest)
			return true
		}); err != nil {
			return written, &os.PathError{Op: "writev", Path: f.Name(), Err: err}
		}
		if werr != nil {
			if errors.Is(werr, unix.EINTR) {
				continue
			}
			return written, &os.PathError{Op: "writev", Path: f.Name(), Err: werr}
		}
		if n <= 0 {
			return written, &os.PathError{Op: "writev", Path: f.Name(), Err: io.ErrShortWrite}
		}
		written += n
		for n > 0 && len(rest) > 0 {
			if n >= len(rest[0]) {
				n -= len(rest[0])
				rest = rest[1:]
			} else {
				rest[0] = rest[0][n:]
				n = 0
			}
		}
	}
	return written, nil
}
func (osFS) Remove(name string) error                   { return os.Remove(name) }
func (osFS) Rename(o, n string) error                   { return os.Rename(o, n) }
func (osFS) Mkdir(name string, perm os.FileMode) error  { return os.Mkdir(name, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }
func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
func (osFS) Statfs(name string) (int64, int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(name, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}
