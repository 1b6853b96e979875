package dataformat_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/matthan/matthan/firmware/atomicfile"
	"github.com/matthan/matthan/firmware/dataformat"
)

// The test migrations stand for real ones (the shipped list is empty:
// the format is version 1). Version 1 keeps users as
// users.json {"users":["name",...]}; version 2 adds households.json
// (additive: version 1 firmware ignores the file); version 3 moves users
// to users-v3.json {"format":3,"users":[{"name":...}]} and removes
// users.json (not additive: version 1 and 2 firmware no longer find
// their users).

var errCut = errors.New("power cut")

// cutter cuts the power at its n-th operation (never when n < 0).
type cutter struct{ n, ops int }

func (c *cutter) op() error {
	if c == nil || c.n < 0 {
		return nil
	}
	c.ops++
	if c.ops == c.n {
		return errCut
	}
	return nil
}

// migrations returns the test list; every operation of a step (and the
// moment after its last one, before the journal records it) may be cut.
func migrations(c *cutter) []dataformat.Migration {
	step := func(name string, ops ...func(dir string) error) dataformat.Step {
		return dataformat.Step{Name: name, Run: func(_ context.Context, dir string) error {
			for _, o := range ops {
				if err := c.op(); err != nil {
					return err
				}
				if err := o(dir); err != nil {
					return err
				}
			}
			return c.op() // done, but not yet journalled
		}}
	}
	return []dataformat.Migration{
		{Name: "households file", Additive: true, Steps: []dataformat.Step{
			step("households.json", func(dir string) error {
				p := filepath.Join(dir, "households.json")
				if _, err := os.Stat(p); err == nil {
					return nil
				}
				return atomicfile.Write(p, []byte(`{"households":[]}`+"\n"), 0o600)
			}),
		}},
		{Name: "users as records", Steps: []dataformat.Step{
			step("users-v3.json", func(dir string) error {
				b, err := os.ReadFile(filepath.Join(dir, "users.json"))
				if errors.Is(err, os.ErrNotExist) {
					return nil // already moved (or no users yet)
				}
				if err != nil {
					return err
				}
				var v1 struct{ Users []string }
				if err := json.Unmarshal(b, &v1); err != nil {
					return err
				}
				type user struct {
					Name string `json:"name"`
				}
				v3 := struct {
					Format int    `json:"format"`
					Users  []user `json:"users"`
				}{Format: 3}
				for _, u := range v1.Users {
					v3.Users = append(v3.Users, user{u})
				}
				out, _ := json.Marshal(v3)
				return atomicfile.Write(filepath.Join(dir, "users-v3.json"), out, 0o600)
			}),
			step("remove users.json", func(dir string) error {
				err := os.Remove(filepath.Join(dir, "users.json"))
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}),
		}},
	}
}

func v1data(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "users.json"), []byte(`{"users":["admin","tech"]}`), 0o600)
	os.MkdirAll(filepath.Join(dir, "recordings", "cam1"), 0o755)
	os.WriteFile(filepath.Join(dir, "recordings", "cam1", "0001.mp4"), []byte("segment"), 0o644)
	return dir
}

// snapshot lists the files under dir with their contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			c, _ := os.ReadFile(p)
			lines = append(lines, strings.TrimPrefix(p, dir)+" "+string(c))
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestLoad(t *testing.T) {
	for _, tt := range []struct {
		name, file string // file "" : none
		want       dataformat.File
		err        string
	}{
		{"missing is version 1", "", dataformat.File{Version: 1, Compat: 1}, ""},
		{"plain", `{"version":3,"compat":2}`, dataformat.File{Version: 3, Compat: 2}, ""},
		{"compat defaults to 1", `{"version":2}`, dataformat.File{Version: 2, Compat: 1}, ""},
		{"journal", `{"version":2,"compat":1,"migrating":{"to":3,"name":"x","done":1}}`,
			dataformat.File{Version: 2, Compat: 1, Migrating: &dataformat.Journal{To: 3, Name: "x", Done: 1}}, ""},
		{"not JSON", `version 2`, dataformat.File{}, "invalid character"},
		{"version 0", `{"version":0}`, dataformat.File{}, "version 0"},
		{"compat above version", `{"version":2,"compat":3}`, dataformat.File{}, "compat 3"},
		{"journal to the wrong version", `{"version":2,"migrating":{"to":4}}`, dataformat.File{}, "migrating to 4"},
		{"negative steps", `{"version":2,"migrating":{"to":3,"done":-1}}`, dataformat.File{}, "-1 steps"},
		{"too large", `{"version":1,"x":"` + strings.Repeat("a", 70<<10) + `"}`, dataformat.File{}, "more than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				os.WriteFile(filepath.Join(dir, dataformat.FileName), []byte(tt.file), 0o644)
			}
			got, err := dataformat.Load(dir)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Load = %+v, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if string(gj) != string(wj) {
				t.Fatalf("Load = %s, want %s", gj, wj)
			}
		})
	}
}

func TestRun(t *testing.T) {
	all := migrations(nil)
	for _, tt := range []struct {
		name       string
		file       string // the version file before ("" : none)
		known      int    // migrations the firmware knows
		want       dataformat.Result
		wantFile   string // the version file after
		wantFiles  []string
		wantAbsent []string
	}{
		{name: "format 1 firmware, no file: records version 1", known: 0,
			want: dataformat.Result{From: 1, To: 1, Compat: 1, Compatible: true}, wantFile: `{"version":1,"compat":1}`,
			wantFiles: []string{"users.json"}, wantAbsent: []string{"households.json"}},
		{name: "1 to 2 (additive keeps compat)", known: 1,
			want:     dataformat.Result{From: 1, To: 2, Compat: 1, Compatible: true, Steps: 1},
			wantFile: `{"version":2,"compat":1}`, wantFiles: []string{"users.json", "households.json"}},
		{name: "1 to 3", known: 2,
			want:     dataformat.Result{From: 1, To: 3, Compat: 3, Compatible: true, Steps: 3},
			wantFile: `{"version":3,"compat":3}`, wantFiles: []string{"users-v3.json", "households.json"}, wantAbsent: []string{"users.json"}},
		{name: "2 to 3 runs only the second", file: `{"version":2,"compat":1}`, known: 2,
			want:     dataformat.Result{From: 2, To: 3, Compat: 3, Compatible: true, Steps: 2},
			wantFile: `{"version":3,"compat":3}`, wantFiles: []string{"users-v3.json"}, wantAbsent: []string{"users.json", "households.json"}},
		{name: "resumes a journalled migration", file: `{"version":2,"compat":1,"migrating":{"to":3,"name":"users as records","done":1}}`, known: 2,
			want:     dataformat.Result{From: 2, To: 3, Compat: 3, Compatible: true, Toward: 3, Steps: 1},
			wantFile: `{"version":3,"compat":3}`, wantAbsent: []string{"users.json", "users-v3.json"} /* step 1 is journalled (here it never ran): only step 2 runs */},
		{name: "current: nothing to do", file: `{"version":3,"compat":3}`, known: 2,
			want: dataformat.Result{From: 3, To: 3, Compat: 3, Compatible: true}, wantFile: `{"version":3,"compat":3}`, wantFiles: []string{"users.json"}},
		{name: "older firmware, newer additive data: carries on, touches nothing", file: `{"version":2,"compat":1}`, known: 0,
			want:     dataformat.Result{From: 2, To: 2, Compat: 1, Newer: true, Compatible: true},
			wantFile: `{"version":2,"compat":1}`, wantFiles: []string{"users.json"}},
		{name: "older firmware, a newer firmware's migration cut halfway: touches nothing", file: `{"version":1,"compat":1,"migrating":{"to":2,"name":"x","done":1}}`, known: 0,
			want:     dataformat.Result{From: 1, To: 1, Compat: 1, Newer: true, Toward: 2},
			wantFile: `{"version":1,"compat":1,"migrating":{"to":2,"name":"x","done":1}}`, wantFiles: []string{"users.json"}},
		{name: "older firmware, newer incompatible data: touches nothing", file: `{"version":3,"compat":3}`, known: 1,
			want:     dataformat.Result{From: 3, To: 3, Compat: 3, Newer: true},
			wantFile: `{"version":3,"compat":3}`, wantFiles: []string{"users.json"}, wantAbsent: []string{"households.json"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := v1data(t)
			if tt.file != "" {
				os.WriteFile(filepath.Join(dir, dataformat.FileName), []byte(tt.file+"\n"), 0o644)
			}
			s := dataformat.Set{Dir: dir, Migrations: all[:tt.known]}
			got, err := s.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Run = %+v, want %+v", got, tt.want)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, dataformat.FileName)); strings.TrimSpace(string(b)) != tt.wantFile {
				t.Errorf("%s = %s, want %s", dataformat.FileName, b, tt.wantFile)
			}
			for _, f := range tt.wantFiles {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
			for _, f := range tt.wantAbsent {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s is there, want none", f)
				}
			}
			if n, _ := s.Pending(); n != 0 {
				t.Errorf("Pending after Run = %d", n)
			}
			// Run again: nothing changes.
			before := snapshot(t, dir)
			if again, err := s.Run(context.Background()); err != nil || again.Steps != 0 {
				t.Errorf("second Run = %+v, %v; want no steps", again, err)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("second Run changed the data:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestPowerCut cuts the power at every operation of the migrations from
// 1 to 3 in turn (before and after each file operation, and between a
// step's end and its journal entry), then starts again: the data ends
// the same as after an uncut run, and no journalled step runs twice.
func TestPowerCut(t *testing.T) {
	ref := v1data(t)
	if _, err := (dataformat.Set{Dir: ref, Migrations: migrations(nil)}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, ref)
	cuts := 0
	for n := 1; ; n++ {
		dir := v1data(t)
		c := &cutter{n: n}
		res, err := dataformat.Set{Dir: dir, Migrations: migrations(c)}.Run(context.Background())
		if err == nil {
			if res.To != 3 || snapshot(t, dir) != want {
				t.Fatalf("uncut run (n=%d): %+v\n%s", n, res, snapshot(t, dir))
			}
			break
		}
		if !errors.Is(err, errCut) {
			t.Fatalf("cut %d: %v", n, err)
		}
		cuts++
		if n, _ := (dataformat.Set{Dir: dir, Migrations: migrations(nil)}).Pending(); n == 0 {
			t.Fatalf("cut %d: nothing pending after a cut", n)
		}
		// The next boot's firmware runs again from the journal.
		rec := &cutter{n: -1}
		res, err = dataformat.Set{Dir: dir, Migrations: migrations(rec)}.Run(context.Background())
		if err != nil {
			t.Fatalf("after cut %d: %v", n, err)
		}
		if got := snapshot(t, dir); got != want {
			t.Fatalf("after cut %d and a restart:\n%s\nwant\n%s", n, got, want)
		}
		if res.Steps == 3 && n > 3 {
			t.Fatalf("after cut %d the restart ran all 3 steps again: the journal was not kept", n)
		}
	}
	if cuts < 6 { // 2 cut points per step
		t.Fatalf("only %d cut points", cuts)
	}
}

// A migration's error stops Run with the journal where it was; a
// cancelled context stops it before the next step.
func TestRunStops(t *testing.T) {
	dir := v1data(t)
	fail := []dataformat.Migration{{Name: "bad", Steps: []dataformat.Step{
		{Name: "ok", Run: func(context.Context, string) error { return nil }},
		{Name: "broken", Run: func(context.Context, string) error { return errors.New("disk full") }},
	}}}
	_, err := dataformat.Set{Dir: dir, Migrations: fail}.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "1 → 2") {
		t.Fatalf("Run = %v", err)
	}
	f, err := dataformat.Load(dir)
	if err != nil || f.Version != 1 || f.Migrating == nil || f.Migrating.Done != 1 {
		t.Fatalf("after a failed step: %+v %v", f, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (dataformat.Set{Dir: v1data(t), Migrations: migrations(nil)}).Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Run = %v", err)
	}
}

// FuzzLoad: a damaged or planted version file gives an error or a sane
// version, never a panic.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{`{"version":1,"compat":1}`, `{"version":2,"compat":1,"migrating":{"to":3,"name":"x","done":1}}`, `{}`, `null`, `{"version":-1}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, dataformat.FileName), b, 0o644)
		v, err := dataformat.Load(dir)
		if err != nil {
			return
		}
		if v.Version < 1 || v.Compat < 1 || v.Compat > v.Version || (v.Migrating != nil && (v.Migrating.To != v.Version+1 || v.Migrating.Done < 0)) {
			t.Fatalf("Load(%q) = %+v", b, v)
		}
		// Run with no migrations never fails on what Load accepted.
		if _, err := (dataformat.Set{Dir: dir}).Run(context.Background()); err != nil {
			t.Fatalf("Run after Load(%q): %v", b, err)
		}
	})
}
