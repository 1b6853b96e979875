package board

import (
	"strings"
	"testing"
)

func TestEveryBoardLoads(t *testing.T) {
	names := Names()
	if len(names) < 2 {
		t.Fatalf("Names() = %v, want at least qemu-virt and rpi4", names)
	}
	for _, n := range names {
		b, err := Load(n)
		if err != nil {
			t.Errorf("Load(%q): %v", n, err)
			continue
		}
		if b.Name != n {
			t.Errorf("board in folder %q calls itself %q", n, b.Name)
		}
	}
}

func TestQEMUVirt(t *testing.T) {
	b, err := Load("qemu-virt")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Kernel.Release(), "6.1.0-56-arm64"; !strings.HasPrefix(got, "6.1.0-") || !strings.HasSuffix(got, "-arm64") {
		t.Errorf("Release() = %q, want like %q", got, want)
	}
	if b.GPIO.Chip != "9030000.pl061" {
		t.Errorf("gpio chip = %q, want 9030000.pl061", b.GPIO.Chip)
	}
	for name, l := range b.GPIO.Outputs() {
		if l == 3 {
			t.Errorf("output %s on line 3, QEMU's power button", name)
		}
	}
}

func TestLoadUnknown(t *testing.T) {
	for _, name := range []string{"nope", "../etc", "", "Q"} {
		if _, err := Load(name); err == nil {
			t.Errorf("Load(%q) succeeded, want error", name)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	good, err := definitions.ReadFile("qemu-virt/board.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, old, new, want string
	}{
		{"bad sha", `"sha256": "f8`, `"sha256": "zz`, "sha256"},
		{"series mismatch", `"series": "linux-image-6.1.0-*-arm64-unsigned"`, `"series": "linux-image-6.2.*"`, "series"},
		{"duplicate line", `"status_led": 1`, `"status_led": 0`, "used by both"},
		{"reserved line", `"pairing_button": 4`, `"pairing_button": 3`, "reserved"},
		{"small boot", `"boot_mib": 512`, `"boot_mib": 32`, "FAT32"},
		{"small slots", `"boot_mib": 512`, `"boot_mib": 512, "slot_mib": 16`, "slot partitions"},
		{"small data", `"data_mib": 1024`, `"data_mib": 128`, "at least 256"},
		{"bad address", `"address": "10.0.2.15/24"`, `"address": "10.0.2.300/24"`, "static address"},
		{"unknown field", `"console"`, `"consle"`, "unknown field"},
		{"bad boot method", `"uefi-systemd-boot"`, `"grub"`, "boot method"},
		{"load_after unknown module", `"virtio_net": ["virtio_pci"]`, `"virtio_net": ["virtio_mmio"]`, "virtio_mmio, which is not in modules"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tt.old, tt.new, 1)
			if bad == string(good) {
				t.Fatalf("test edit %q not applied", tt.old)
			}
			_, err := Parse([]byte(bad))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestInSeries(t *testing.T) {
	k := KernelPin{Series: "linux-image-6.1.0-*-arm64-unsigned"}
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"linux-image-6.1.0-57-arm64-unsigned", true},
		{"linux-image-6.1.0-57-rt-arm64-unsigned", false},
		{"linux-image-6.1.0-57-cloud-arm64-unsigned", false},
		{"linux-image-6.1.0-x-arm64-unsigned", false},
	} {
		if got := k.InSeries(tt.name); got != tt.want {
			t.Errorf("InSeries(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := definitions.ReadFile("qemu-virt/board.json")
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"gpio":{"ir_led":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data)
		if err == nil && b.Validate() != nil {
			t.Fatal("Parse accepted an invalid board")
		}
	})
}
