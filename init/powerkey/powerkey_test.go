package powerkey

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestHasKey(t *testing.T) {
	for _, tt := range []struct {
		bitmap string
		code   int
		want   bool
	}{
		{"10000000000000 0", keyPower, true}, // gpio-keys with KEY_POWER only
		{"0", keyPower, false},
		{"10000000000000 0 0", keyPower, false},
		{"garbage", keyPower, false},
		{"", keyPower, false},
	} {
		if got := HasKey(tt.bitmap, tt.code); got != tt.want {
			t.Errorf("HasKey(%q, %d) = %v, want %v", tt.bitmap, tt.code, got, tt.want)
		}
	}
}

func TestPressed(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(Event(evKey, 30, 1))       // 'a' key
	stream.Write(Event(0, 0, 0))            // SYN
	stream.Write(Event(evKey, keyPower, 0)) // release only
	stream.Write(Event(evKey, keyPower, 1)) // press
	if err := Pressed(&stream); err != nil {
		t.Fatalf("Pressed = %v, want nil", err)
	}
	if err := Pressed(bytes.NewReader(Event(evKey, keyPower, 0))); err != io.EOF {
		t.Errorf("release only: Pressed = %v, want EOF", err)
	}
}

func TestDevices(t *testing.T) {
	dir := t.TempDir()
	for name, caps := range map[string]string{"event0": "10000000000000 0", "event1": "7fe 0 0"} {
		os.MkdirAll(filepath.Join(dir, name, "device", "capabilities"), 0o755)
		os.WriteFile(filepath.Join(dir, name, "device", "capabilities", "key"), []byte(caps+"\n"), 0o644)
	}
	got, err := Devices(dir)
	if err != nil || len(got) != 1 || got[0] != "/dev/input/event0" {
		t.Errorf("Devices = %v, %v; want [/dev/input/event0]", got, err)
	}
}

// Event encodes one input event (what the kernel writes).
func Event(typ, code uint16, value int32) []byte {
	b := make([]byte, eventSize)
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}
