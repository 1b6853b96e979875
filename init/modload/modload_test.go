package modload

import (
	"reflect"
	"testing"
)

func TestParseOrder(t *testing.T) {
	got := ParseOrder([]byte("# generated\nkernel/lib/crc16.ko\n\n  kernel/fs/ext4/ext4.ko  \n"))
	want := []string{"kernel/lib/crc16.ko", "kernel/fs/ext4/ext4.ko"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseOrder = %q, want %q", got, want)
	}
}
