package modorder

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want []Entry
	}{
		{"empty", "", nil},
		{"comments and blanks", "# generated\n\n   \n# more\n", nil},
		{"deps and spaces",
			"# generated\nkernel/lib/crc16.ko:\n\n  kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko \nplain.ko\n",
			[]Entry{
				{Path: "kernel/lib/crc16.ko"},
				{Path: "kernel/fs/ext4/ext4.ko", Deps: []string{"kernel/lib/crc16.ko", "kernel/fs/jbd2/jbd2.ko"}},
				{Path: "plain.ko"},
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestFormatParses: what the image build writes, init reads back the same.
func TestFormatParses(t *testing.T) {
	es := []Entry{
		{Path: "kernel/lib/crc16.ko"},
		{Path: "kernel/fs/jbd2/jbd2.ko"},
		{Path: "kernel/fs/ext4/ext4.ko", Deps: []string{"kernel/lib/crc16.ko", "kernel/fs/jbd2/jbd2.ko"}},
	}
	if got := Parse(Format("made by a test", es)); !reflect.DeepEqual(got, es) {
		t.Errorf("Parse(Format) = %+v, want %+v", got, es)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("a.ko: b.ko c.ko\n# x\nb.ko:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range Parse(b) {
			if e.Path == "" && len(e.Deps) == 0 {
				continue
			}
			_ = Format("", []Entry{e})
		}
	})
}
