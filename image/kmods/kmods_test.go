package kmods

import (
	"reflect"
	"strings"
	"testing"
)

const dep = `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/input/keyboard/gpio_keys.ko:
`

func TestResolve(t *testing.T) {
	d, err := Parse([]byte(dep), []byte("kernel/drivers/gpio/gpio-pl061.ko\nkernel/drivers/mmc/core/mmc_block.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		names   []string
		order   []string
		builtin []string
		err     string
	}{
		{names: []string{"ext4"}, order: []string{"kernel/lib/crc16.ko", "kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/ext4/ext4.ko"}},
		{names: []string{"virtio_net", "gpio-keys", "gpio_pl061"},
			order:   []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko", "kernel/drivers/input/keyboard/gpio_keys.ko"},
			builtin: []string{"gpio_pl061"}},
		{names: []string{"ext4", "nosuch"}, err: "nosuch"},
	} {
		order, builtin, err := d.Resolve(tt.names)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%v) err = %v, want %q", tt.names, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(order, tt.order) || !reflect.DeepEqual(builtin, tt.builtin) {
			t.Errorf("Resolve(%v) = %v %v %v, want %v %v", tt.names, order, builtin, err, tt.order, tt.builtin)
		}
	}
}

// TestLoadAfter: virtio_net waits for virtio_pci (no modules.dep line
// between them), in the order and in Of (the order file's lines, which
// modload waits on); a built-in one needs nothing, an unknown one is an
// error, an ordering against the dependencies is a cycle.
func TestLoadAfter(t *testing.T) {
	const pci = "kernel/drivers/virtio/virtio_pci.ko"
	d, err := Parse([]byte(dep+pci+":\n"), []byte("kernel/drivers/gpio/gpio-pl061.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.LoadAfter(map[string][]string{"virtio_net": {"virtio_pci", "gpio_pl061"}, "gpio_keys": {"gpio-pl061"}}); err != nil {
		t.Fatal(err)
	}
	order, _, err := d.Resolve([]string{"virtio_net", "virtio_pci"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", pci, "kernel/drivers/net/virtio_net.ko"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if of := d.Of("kernel/drivers/net/virtio_net.ko"); !reflect.DeepEqual(of, []string{"kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko", pci}) {
		t.Errorf("Of(virtio_net) = %v", of)
	}
	if len(d.Of("kernel/drivers/input/keyboard/gpio_keys.ko")) != 0 {
		t.Errorf("gpio_keys waits for a built-in module: %v", d.Of("kernel/drivers/input/keyboard/gpio_keys.ko"))
	}
	if err := d.LoadAfter(map[string][]string{"virtio_net": {"nosuch"}}); err == nil {
		t.Error("an unknown module: no error")
	}
	if err := d.LoadAfter(map[string][]string{"failover": {"virtio_net"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Resolve([]string{"virtio_net"}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("ordering against the dependencies: %v, want a cycle", err)
	}
}

func TestCycle(t *testing.T) {
	d, _ := Parse([]byte("a.ko: b.ko\nb.ko: a.ko\n"), nil)
	if _, _, err := d.Resolve([]string{"a"}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("err = %v, want a cycle", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(dep), []byte("kernel/x.ko\n"))
	f.Add([]byte("a.ko: b.ko\nb.ko: a.ko\n"), []byte(""))
	f.Add([]byte("no colon"), []byte(""))
	f.Fuzz(func(t *testing.T, depData, builtin []byte) {
		d, err := Parse(depData, builtin)
		if err != nil {
			return
		}
		d.Resolve([]string{"a", "ext4"})
	})
}
