package atomicfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/matthan/matthan/firmware/atomicfile"
)

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	p := filepath.Join(dir, "f.json")
	for i, tt := range []struct {
		data string
		perm os.FileMode
	}{
		{"first\n", 0o600},
		{"second, longer content\n", 0o644},
		{"3\n", 0o600},
	} {
		if err := atomicfile.Write(p, []byte(tt.data), tt.perm); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != tt.data {
			t.Fatalf("write %d: read %q, %v; want %q", i, got, err, tt.data)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != tt.perm {
			t.Errorf("write %d: mode %v, want %v", i, st.Mode().Perm(), tt.perm)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries, want only the file (no temporary left)", len(ents))
	}
}

func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := atomicfile.Write(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A folder in the way of the rename: the write must fail and leave
	// neither a temporary nor a changed target.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(blocked, []byte("new"), 0o600); err == nil {
		t.Fatal("writing over a non-empty folder succeeded")
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("target changed to %q", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("folder holds %d entries, want 2 (no temporary left)", len(ents))
	}
}

func TestCreateNeverReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := atomicfile.Create(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := atomicfile.Create(p, []byte("second"), 0o600)
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("second Create: %v, want os.ErrExist", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "first" {
		t.Errorf("file now %q, want the first content", got)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries, want 1 (no temporary left)", len(ents))
	}
	if err := atomicfile.SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SyncDir of a missing folder succeeded")
	}
}

func TestSyncClose(t *testing.T) {
	earlier := errors.New("write failed")
	for _, tt := range []struct {
		name    string
		closed  bool // f was closed before
		err     error
		wantErr error // nil: none; os.ErrClosed: the close's
	}{
		{"written", false, nil, nil},
		{"write failed", false, earlier, earlier},
		{"sync fails", true, nil, os.ErrClosed},
		{"write failed, close fails", true, earlier, earlier},
	} {
		f, err := os.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		if tt.closed {
			f.Close()
		}
		got := atomicfile.SyncClose(f, tt.err)
		if tt.wantErr == nil && got != nil || tt.wantErr != nil && !errors.Is(got, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.wantErr)
		}
		if err := f.Close(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s: f left open", tt.name)
		}
	}
}
