// Package kmods resolves a board's kernel modules against the kernel
// package's modules.dep (made by depmod -b at build time, since Debian's
// package ships none) into a load order: every module after the modules
// it depends on, each once. Modules built into the kernel are skipped.
package kmods

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Deps is a parsed modules.dep: module file (relative) -> its deps.
type Deps struct {
	deps    map[string][]string
	byName  map[string]string // module name (with _) -> file
	builtin map[string]bool   // module names built in
}

// ModName turns kernel/drivers/net/virtio_net.ko into virtio_net.
func ModName(file string) string {
	b := path.Base(file)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(b, ext) {
			b = strings.TrimSuffix(b, ext)
			break
		}
	}
	return strings.ReplaceAll(b, "-", "_")
}

// Parse reads modules.dep and modules.builtin content.
func Parse(modulesDep, modulesBuiltin []byte) (*Deps, error) {
	d := &Deps{deps: map[string][]string{}, byName: map[string]string{}, builtin: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(modulesDep))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		file, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no ':'", n)
		}
		d.deps[file] = strings.Fields(rest)
		d.byName[ModName(file)] = file
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.dep: %w", err)
	}
	for _, l := range strings.Fields(string(modulesBuiltin)) {
		d.builtin[ModName(l)] = true
	}
	return d, nil
}

// Load reads modules.dep and modules.builtin from a module directory.
func Load(dir string) (*Deps, error) {
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("%w (run depmod -b on the unpacked kernel package)", err)
	}
	builtin, _ := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	return Parse(dep, builtin)
}

// Resolve returns the module files to load for names, in load order, and
// the names that are built into the kernel.
func (d *Deps) Resolve(names []string) (order []string, builtin []string, err error) {
	seen := map[string]bool{}
	var visit func(file string, stack []string) error
	visit = func(file string, stack []string) error {
		if seen[file] {
			return nil
		}
		for _, s := range stack {
			if s == file {
				return fmt.Errorf("dependency cycle: %s", strings.Join(append(stack, file), " -> "))
			}
		}
		deps, ok := d.deps[file]
		if !ok {
			return fmt.Errorf("%s is listed as a dependency but not in modules.dep", file)
		}
		for _, dep := range deps {
			if err := visit(dep, append(stack, file)); err != nil {
				return err
			}
		}
		seen[file] = true
		order = append(order, file)
		return nil
	}
	var missing []string
	for _, n := range names {
		key := strings.ReplaceAll(n, "-", "_")
		file, ok := d.byName[key]
		if !ok {
			if d.builtin[key] {
				builtin = append(builtin, n)
				continue
			}
			missing = append(missing, n)
			continue
		}
		if err := visit(file, nil); err != nil {
			return nil, nil, err
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("modules not in this kernel (neither loadable nor built in): %s", strings.Join(missing, ", "))
	}
	return order, builtin, nil
}

// LoadAfter adds ordering the kernel does not state: each module named
// by a key of after loads only once the modules of its value are in (a
// device driver after its bus driver, so that the devices get their names,
// eth0 then eth1, in bus order and not by which probe won a race). A
// module built into the kernel needs no ordering and is passed over.
func (d *Deps) LoadAfter(after map[string][]string) error {
	file := func(name string) (string, bool, error) {
		key := strings.ReplaceAll(name, "-", "_")
		if f, ok := d.byName[key]; ok {
			return f, true, nil
		}
		if d.builtin[key] {
			return "", false, nil
		}
		return "", false, fmt.Errorf("load order: module %s not in this kernel", name)
	}
	for m, firsts := range after {
		mf, ok, err := file(m)
		if err != nil {
			return err
		}
		for _, a := range firsts {
			af, aok, err := file(a)
			if err != nil {
				return err
			}
			if !ok || !aok || slices.Contains(d.deps[mf], af) {
				continue
			}
			d.deps[mf] = append(slices.Clip(d.deps[mf]), af)
		}
	}
	return nil
}

// Of returns the module files a module file depends on.
func (d *Deps) Of(file string) []string { return d.deps[file] }
