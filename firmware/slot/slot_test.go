package slot

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// loader simulates systemd-boot 252 on an ESP folder: it reads the
// entries, orders them (no tries left last, then sort-key, then version
// highest first), picks the first that loader.conf's default matches,
// counts a try by renaming +LEFT[-DONE] to +LEFT-1-DONE+1, and returns the
// chosen entry's command line.
func loader(t *testing.T, esp string) string {
	t.Helper()
	dir := filepath.Join(esp, "loader", "entries")
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type ent struct {
		name       string
		version    int
		left, done int
		counted    bool
		options    string
	}
	var es []ent
	for _, de := range des {
		m := entryName.FindStringSubmatch(de.Name())
		if m == nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, de.Name()))
		e := ent{name: de.Name(), counted: m[2] != ""}
		e.left, _ = strconv.Atoi(m[2])
		e.done, _ = strconv.Atoi(m[3])
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, " ")
			switch k {
			case "version":
				e.version, _ = strconv.Atoi(v)
			case "options":
				e.options = v
			}
		}
		es = append(es, e)
	}
	sort.SliceStable(es, func(i, j int) bool {
		bi, bj := es[i].counted && es[i].left == 0, es[j].counted && es[j].left == 0
		if bi != bj {
			return !bi
		}
		return es[i].version > es[j].version
	})
	if len(es) == 0 {
		t.Fatal("loader: no entry to boot")
	}
	e := es[0]
	if e.counted && e.left > 0 {
		base := strings.SplitN(e.name, "+", 2)[0]
		next := fmt.Sprintf("%s+%d-%d.conf", base, e.left-1, e.done+1)
		if err := os.Rename(filepath.Join(dir, e.name), filepath.Join(dir, next)); err != nil {
			t.Fatal(err)
		}
	}
	return e.options
}

// newESP lays out slot A as image/build does.
func newESP(t *testing.T) string {
	esp := t.TempDir()
	for _, d := range []string{"loader/entries", "matthan/a"} {
		os.MkdirAll(filepath.Join(esp, d), 0o755)
	}
	os.WriteFile(filepath.Join(esp, "loader/entries/matthan-a.conf"), EntryFor(A, 100, "console=ttyAMA0"), 0o644)
	os.WriteFile(filepath.Join(esp, "matthan/a/cmdline.txt"), []byte("console=ttyAMA0\n"), 0o644)
	return esp
}

func TestUEFIGoodUpdate(t *testing.T) {
	esp := newESP(t)
	u := &UEFI{ESP: esp, Cmdline: loader(t, esp), Tries: 3}
	if b, err := u.Running(); err != nil || b != (Boot{Slot: A}) {
		t.Fatalf("first boot: %+v %v, want slot a, no trial", b, err)
	}
	dir, err := u.Prepare(B)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cmdline.txt"), []byte("console=ttyAMA0 new\n"), 0o644)
	if err := u.Arm(B, 200); err != nil {
		t.Fatal(err)
	}
	u.Cmdline = loader(t, esp)
	if b, _ := u.Running(); b != (Boot{Slot: B, Trial: true}) {
		t.Fatalf("after arm: %+v, want a trial of b", b)
	}
	if !strings.Contains(u.Cmdline, "new") {
		t.Fatalf("trial boots %q, not b's command line", u.Cmdline)
	}
	if err := u.Confirm(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		u.Cmdline = loader(t, esp)
		if b, _ := u.Running(); b != (Boot{Slot: B}) {
			t.Fatalf("boot %d after confirm: %+v, want b confirmed", i, b)
		}
	}
	// The next update goes to a, and a partial a never boots.
	if _, err := u.Prepare(A); err != nil {
		t.Fatal(err)
	}
	if SlotFromCmdline(loader(t, esp)) != B {
		t.Fatal("a prepared (half written) slot booted")
	}
}

func TestUEFIRollback(t *testing.T) {
	for _, tries := range []int{1, 3} {
		t.Run(fmt.Sprint(tries), func(t *testing.T) {
			esp := newESP(t)
			u := &UEFI{ESP: esp, Cmdline: loader(t, esp), Tries: tries}
			u.Prepare(B)
			os.WriteFile(filepath.Join(esp, "matthan/b/cmdline.txt"), []byte("bad\n"), 0o644)
			if err := u.Arm(B, 200); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tries; i++ { // never confirmed: each boot resets
				if s := SlotFromCmdline(loader(t, esp)); s != B {
					t.Fatalf("try %d booted %s, want b", i, s)
				}
			}
			u.Cmdline = loader(t, esp)
			if b, _ := u.Running(); b != (Boot{Slot: A}) {
				t.Fatalf("after %d failed tries: %+v, want a, no trial", tries, b)
			}
			if left, ok, _ := u.TriesLeft(B); !ok || left != 0 {
				t.Fatalf("b tries left %d %v, want 0", left, ok)
			}
			// The next attempt clears b's spent entry.
			u.Prepare(B)
			if _, ok, _ := u.TriesLeft(B); ok {
				t.Fatal("Prepare left b's spent entry")
			}
		})
	}
}

func TestUEFIArmWithoutFiles(t *testing.T) {
	esp := newESP(t)
	u := &UEFI{ESP: esp, Cmdline: "matthan.slot=a"}
	if err := u.Arm(B, 200); err == nil {
		t.Fatal("armed a slot without its files")
	}
	if _, err := (&UEFI{ESP: esp, Cmdline: "quiet"}).Running(); err == nil {
		t.Fatal("Running without matthan.slot= succeeded")
	}
}

// pi simulates the Pi firmware: it boots [all], or [tryboot] once after
// a tryboot reboot, and writes the chosen node.
type pi struct {
	r   *RPi
	try bool
}

func (p *pi) boot(t *testing.T) {
	a, err := p.r.autoboot()
	if err != nil {
		t.Fatal(err)
	}
	part, try := a.All, uint32(0)
	if p.try {
		part, try = a.Tryboot, 1
	}
	p.try = false
	put := func(name string, v uint32) {
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, v)
		os.WriteFile(filepath.Join(p.r.Chosen, name), b, 0o644)
	}
	put("partition", uint32(part))
	put("tryboot", try)
}

func newPi(t *testing.T) *pi {
	root := t.TempDir()
	r := &RPi{Boot: filepath.Join(root, "p1"), Chosen: filepath.Join(root, "chosen"),
		Slots: map[Slot]string{A: filepath.Join(root, "p2"), B: filepath.Join(root, "p3")}}
	for _, d := range []string{r.Boot, r.Chosen, r.Slots[A], r.Slots[B]} {
		os.MkdirAll(d, 0o755)
	}
	// The image's own autoboot.txt.
	os.WriteFile(filepath.Join(r.Boot, "autoboot.txt"), FirstAutoboot.Format(), 0o644)
	p := &pi{r: r}
	p.boot(t)
	return p
}

func TestRPiGoodUpdate(t *testing.T) {
	p := newPi(t)
	if b, err := p.r.Running(); err != nil || b != (Boot{Slot: A}) {
		t.Fatalf("first boot %+v %v", b, err)
	}
	if _, err := p.r.Prepare(A); err == nil {
		t.Fatal("prepared the running slot")
	}
	dir, err := p.r.Prepare(B)
	if err != nil || dir != p.r.Slots[B] {
		t.Fatalf("Prepare(b) = %q, %v", dir, err)
	}
	if err := p.r.Arm(B, 200); err != nil {
		t.Fatal(err)
	}
	if p.r.RebootArg() != "0 tryboot" {
		t.Fatal("Pi trial needs reboot \"0 tryboot\"")
	}
	p.try = true
	p.boot(t)
	if b, _ := p.r.Running(); b != (Boot{Slot: B, Trial: true}) {
		t.Fatalf("trial boot %+v", b)
	}
	if err := p.r.Confirm(); err != nil {
		t.Fatal(err)
	}
	if b, _ := p.r.Running(); b.Trial {
		t.Fatal("still a trial after Confirm")
	}
	p.boot(t)
	if b, _ := p.r.Running(); b != (Boot{Slot: B}) {
		t.Fatalf("after confirm %+v, want b", b)
	}
	got, _ := os.ReadFile(filepath.Join(p.r.Boot, "autoboot.txt"))
	if a, _ := ParseAutoboot(string(got)); a != (Autoboot{All: 3, Tryboot: 2}) {
		t.Fatalf("autoboot.txt %+v, want all=3 tryboot=2", a)
	}
}

func TestRPiRollback(t *testing.T) {
	p := newPi(t)
	p.r.Prepare(B)
	p.r.Arm(B, 200)
	p.try = true
	p.boot(t) // trial of b, never confirmed: the watchdog resets
	p.boot(t)
	if b, _ := p.r.Running(); b != (Boot{Slot: A}) {
		t.Fatalf("after a failed trial %+v, want a", b)
	}
}

func TestParseAutoboot(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Autoboot
		ok   bool
	}{
		{"[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n", Autoboot{2, 3}, true},
		{"[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n", Autoboot{3, 2}, true},
		{"boot_partition=2\n", Autoboot{2, 0}, true},
		{"[tryboot]\nboot_partition=3\n", Autoboot{}, false},
		{"[all]\nboot_partition=x\n", Autoboot{}, false},
		{"[all]\nboot_partition=99\n", Autoboot{}, false},
	} {
		got, err := ParseAutoboot(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseAutoboot(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && tt.want.Tryboot != 0 {
			again, _ := ParseAutoboot(string(got.Format()))
			if again != got {
				t.Errorf("Format/Parse of %+v gave %+v", got, again)
			}
		}
	}
}
