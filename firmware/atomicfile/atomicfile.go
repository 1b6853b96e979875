// Package atomicfile replaces small files so that a power cut leaves either
// the old or the new content, never a torn one: write a temporary file in
// the same folder, fsync it, rename it over the target (or link it, for a
// file that must not be replaced), fsync the folder. SyncClose ends the
// writing of any other file the same way.
//
// The daemon (accounts, setup code, box key, TLS key, cameras, the
// recording disk's record, the audit log's head) and init (network
// settings) both use it, so it lives below both, in firmware/, and imports
// only the standard library.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data (mode perm), creating its folder (0700)
// if needed.
func Write(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

// Create puts data (mode perm) at path only if nothing is there yet; it
// fails with an error wrapping os.ErrExist otherwise (another process made
// the file first). It creates the folder (0700) if needed.
func Create(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

func write(path string, data []byte, perm os.FileMode, replace bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err = SyncClose(f, err); err == nil {
		if replace {
			err = os.Rename(tmp, path)
		} else {
			err = os.Link(tmp, path)
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	SyncDir(dir)
	return nil
}

// SyncClose ends the writing of f, whose writes so far gave err: it
// fsyncs f when err is nil, closes it always, and returns the first error.
func SyncClose(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir fsyncs the folder dir, so that a file made, renamed or removed
// there stays so after a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
