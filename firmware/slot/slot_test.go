package slot_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matthan/matthan/firmware/internal/bootsim"
	"github.com/matthan/matthan/firmware/slot"
)

func loader(t *testing.T, esp string) string {
	t.Helper()
	cl, err := bootsim.SystemdBoot(esp)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// newESP lays out slot A as image/build does.
func newESP(t *testing.T) string {
	esp := t.TempDir()
	for _, d := range []string{"loader/entries", "matthan/a"} {
		os.MkdirAll(filepath.Join(esp, d), 0o755)
	}
	os.WriteFile(filepath.Join(esp, "loader/entries/matthan-a.conf"), slot.EntryFor(slot.A, 100, "console=ttyAMA0"), 0o644)
	os.WriteFile(filepath.Join(esp, "matthan/a/cmdline.txt"), []byte("console=ttyAMA0\n"), 0o644)
	return esp
}

func TestUEFIGoodUpdate(t *testing.T) {
	esp := newESP(t)
	u := &slot.UEFI{ESP: esp, Cmdline: loader(t, esp), Tries: 3}
	if b, err := u.Running(); err != nil || b != (slot.Boot{Slot: slot.A}) {
		t.Fatalf("first boot: %+v %v, want slot a, no trial", b, err)
	}
	dir, err := u.Prepare(slot.B)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cmdline.txt"), []byte("console=ttyAMA0 new\n"), 0o644)
	if err := u.Arm(slot.B, 200); err != nil {
		t.Fatal(err)
	}
	u.Cmdline = loader(t, esp)
	if b, _ := u.Running(); b != (slot.Boot{Slot: slot.B, Trial: true}) {
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
		if b, _ := u.Running(); b != (slot.Boot{Slot: slot.B}) {
			t.Fatalf("boot %d after confirm: %+v, want b confirmed", i, b)
		}
	}
	// The next update goes to a, and a partial a never boots.
	if _, err := u.Prepare(slot.A); err != nil {
		t.Fatal(err)
	}
	if slot.SlotFromCmdline(loader(t, esp)) != slot.B {
		t.Fatal("a prepared (half written) slot booted")
	}
}

func TestUEFIRollback(t *testing.T) {
	for _, tries := range []int{1, 3} {
		t.Run(fmt.Sprint(tries), func(t *testing.T) {
			esp := newESP(t)
			u := &slot.UEFI{ESP: esp, Cmdline: loader(t, esp), Tries: tries}
			u.Prepare(slot.B)
			os.WriteFile(filepath.Join(esp, "matthan/b/cmdline.txt"), []byte("bad\n"), 0o644)
			if err := u.Arm(slot.B, 200); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tries; i++ { // never confirmed: each boot resets
				if s := slot.SlotFromCmdline(loader(t, esp)); s != slot.B {
					t.Fatalf("try %d booted %s, want b", i, s)
				}
			}
			u.Cmdline = loader(t, esp)
			if b, _ := u.Running(); b != (slot.Boot{Slot: slot.A}) {
				t.Fatalf("after %d failed tries: %+v, want a, no trial", tries, b)
			}
			if left, ok, _ := u.TriesLeft(slot.B); !ok || left != 0 {
				t.Fatalf("b tries left %d %v, want 0", left, ok)
			}
			// The next attempt clears b's spent entry.
			u.Prepare(slot.B)
			if _, ok, _ := u.TriesLeft(slot.B); ok {
				t.Fatal("Prepare left b's spent entry")
			}
		})
	}
}

func TestUEFIArmWithoutFiles(t *testing.T) {
	esp := newESP(t)
	u := &slot.UEFI{ESP: esp, Cmdline: "matthan.slot=a"}
	if err := u.Arm(slot.B, 200); err == nil {
		t.Fatal("armed a slot without its files")
	}
	if _, err := (&slot.UEFI{ESP: esp, Cmdline: "quiet"}).Running(); err == nil {
		t.Fatal("Running without matthan.slot= succeeded")
	}
}

type pi struct {
	r   *slot.RPi
	sim *bootsim.Pi
}

func (p *pi) boot(t *testing.T) {
	t.Helper()
	if err := p.sim.Boot(); err != nil {
		t.Fatal(err)
	}
}

func newPi(t *testing.T) *pi {
	root := t.TempDir()
	r := &slot.RPi{Boot: filepath.Join(root, "p1"), Chosen: filepath.Join(root, "chosen"),
		Slots: map[slot.Slot]string{slot.A: filepath.Join(root, "p2"), slot.B: filepath.Join(root, "p3")}}
	for _, d := range []string{r.Boot, r.Chosen, r.Slots[slot.A], r.Slots[slot.B]} {
		os.MkdirAll(d, 0o755)
	}
	// The image's own autoboot.txt.
	os.WriteFile(filepath.Join(r.Boot, "autoboot.txt"), slot.FirstAutoboot.Format(), 0o644)
	p := &pi{r: r, sim: &bootsim.Pi{R: r}}
	p.boot(t)
	return p
}

func TestRPiGoodUpdate(t *testing.T) {
	p := newPi(t)
	if b, err := p.r.Running(); err != nil || b != (slot.Boot{Slot: slot.A}) {
		t.Fatalf("first boot %+v %v", b, err)
	}
	if _, err := p.r.Prepare(slot.A); err == nil {
		t.Fatal("prepared the running slot")
	}
	dir, err := p.r.Prepare(slot.B)
	if err != nil || dir != p.r.Slots[slot.B] {
		t.Fatalf("Prepare(b) = %q, %v", dir, err)
	}
	if err := p.r.Arm(slot.B, 200); err != nil {
		t.Fatal(err)
	}
	if p.r.RebootArg() != "0 tryboot" {
		t.Fatal("Pi trial needs reboot \"0 tryboot\"")
	}
	p.sim.Try = true
	p.boot(t)
	if b, _ := p.r.Running(); b != (slot.Boot{Slot: slot.B, Trial: true}) {
		t.Fatalf("trial boot %+v", b)
	}
	if err := p.r.Confirm(); err != nil {
		t.Fatal(err)
	}
	if b, _ := p.r.Running(); b.Trial {
		t.Fatal("still a trial after Confirm")
	}
	p.boot(t)
	if b, _ := p.r.Running(); b != (slot.Boot{Slot: slot.B}) {
		t.Fatalf("after confirm %+v, want b", b)
	}
	got, _ := os.ReadFile(filepath.Join(p.r.Boot, "autoboot.txt"))
	if a, _ := slot.ParseAutoboot(string(got)); a != (slot.Autoboot{All: 3, Tryboot: 2}) {
		t.Fatalf("autoboot.txt %+v, want all=3 tryboot=2", a)
	}
}

func TestRPiRollback(t *testing.T) {
	p := newPi(t)
	p.r.Prepare(slot.B)
	p.r.Arm(slot.B, 200)
	p.sim.Try = true
	p.boot(t) // trial of b, never confirmed: the watchdog resets
	p.boot(t)
	if b, _ := p.r.Running(); b != (slot.Boot{Slot: slot.A}) {
		t.Fatalf("after a failed trial %+v, want a", b)
	}
}

func TestParseAutoboot(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want slot.Autoboot
		ok   bool
	}{
		{"[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n", slot.Autoboot{All: 2, Tryboot: 3}, true},
		{"[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n", slot.Autoboot{All: 3, Tryboot: 2}, true},
		{"boot_partition=2\n", slot.Autoboot{All: 2}, true},
		{"[tryboot]\nboot_partition=3\n", slot.Autoboot{}, false},
		{"[all]\nboot_partition=x\n", slot.Autoboot{}, false},
		{"[all]\nboot_partition=99\n", slot.Autoboot{}, false},
	} {
		got, err := slot.ParseAutoboot(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("slot.ParseAutoboot(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && tt.want.Tryboot != 0 {
			again, _ := slot.ParseAutoboot(string(got.Format()))
			if again != got {
				t.Errorf("Format/Parse of %+v gave %+v", got, again)
			}
		}
	}
}
