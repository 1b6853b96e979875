package storage_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/matthan/matthan/daemon/storage"
)

// onlyWriter hides WriteParts: WriteParts falls back to one Write per part.
type onlyWriter struct{ io.Writer }

// TestWriteParts: the parts land in order as one buffer, through writev on
// a real file (with an empty part and many parts) and through the fallback.
func TestWriteParts(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 100000)
	for _, tt := range []struct {
		name  string
		parts [][]byte
	}{
		{"header and samples", [][]byte{[]byte("moofmdat"), big}},
		{"empty parts", [][]byte{nil, []byte("a"), {}, []byte("bc")}},
		{"more parts than the inline vector", [][]byte{[]byte("1"), []byte("22"), []byte("333"), []byte("4444"), []byte("55555"), big[:70000]}},
		{"nothing", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := bytes.Join(tt.parts, nil)
			path := filepath.Join(t.TempDir(), "f")
			f, err := storage.OS.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := f.(storage.PartsWriter); !ok {
				t.Fatal("OS files do not write vectors")
			}
			n, err := storage.WriteParts(f, tt.parts)
			f.Close()
			if err != nil || n != len(want) {
				t.Fatalf("writev: %d, %v; want %d bytes", n, err, len(want))
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
				t.Errorf("writev: file holds %d bytes, not the parts in order", len(got))
			}
			if !bytes.Equal(bytes.Join(tt.parts, nil), want) {
				t.Error("writev changed the caller's parts")
			}
			var buf bytes.Buffer
			if n, err := storage.WriteParts(onlyWriter{&buf}, tt.parts); err != nil || n != len(want) || !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("fallback: %d, %v, equal %v", n, err, bytes.Equal(buf.Bytes(), want))
			}
		})
	}
}
