package federation

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/search"
	"github.com/matthan/matthan/hwtest/fedtest"
)

type testServer struct {
	*fedtest.Server
	seeds map[string]string
	url   string
}

const districtUser, districtPass = fedtest.User, fedtest.Password

func serverConfig(listen, storeDir string, keys map[string]string) (string, error) {
	var users []BoxUser
	for b, k := range keys {
		users = append(users, BoxUser{Box: b, NKey: k})
	}
	return ServerConfig(listen, storeDir, fedtest.User, fedtest.Password, users, "", "")
}

func newServer(t testing.TB, boxes ...string) *testServer {
	s := fedtest.Start(t, serverConfig, boxes...)
	return &testServer{Server: s, seeds: s.Seeds, url: s.URL}
}

func (ts *testServer) start() { ts.Start() }
func (ts *testServer) stop()  { ts.Stop() }

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	fedtest.WaitFor(t, d, what, cond)
}

func (ts *testServer) boxConfig(box string) Config {
	return Config{URL: ts.url, Box: box, NKeySeed: ts.seeds[box]}
}

func (ts *testServer) openDistrict(t testing.TB) *District {
	d, err := OpenDistrict(DistrictOptions{URL: ts.url, User: districtUser, Password: districtPass, DataDir: t.TempDir(), Logf: quiet(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// quiet logs only lines that are not the expected link-down noise.
func quiet(t testing.TB) func(string, ...any) {
	return func(f string, a ...any) {
		s := fmt.Sprintf(f, a...)
		if strings.Contains(s, "search:") {
			return
		}
		t.Log(s)
	}
}

// testBox is an in-process box: its event index and the box side.
type testBox struct {
	id     string
	idx    *search.Index
	cursor *Cursor
	box    *Box
}

func openTestBox(t testing.TB, ts *testServer, id string, dir string, clips ClipMaker) *testBox {
	cur, err := OpenCursor(filepath.Join(dir, "district.cursor"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := search.Open(filepath.Join(dir, "events"), search.Options{Logf: func(string, ...any) {}, FlushEvery: 50 * time.Millisecond, Hold: cur.Hold})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ts.boxConfig(id)
	if clips != nil {
		cfg.DistrictKey = districtKeyOf(t, clips)
	}
	b, err := StartBox(BoxOptions{Config: cfg, Outbox: idx, Cursor: cur, Clips: clips, Poll: 50 * time.Millisecond,
		HealthEvery: 200 * time.Millisecond, Health: func() Health { return Health{Version: "test"} }, Logf: quiet(t)})
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBox{id: id, idx: idx, cursor: cur, box: b}
	t.Cleanup(tb.close)
	return tb
}

func (b *testBox) close() {
	if b.box != nil {
		b.box.Close()
		b.box = nil
	}
	if b.idx != nil {
		b.idx.Close()
		b.idx = nil
	}
}

func districtKeyOf(t testing.TB, clips ClipMaker) string {
	if k, ok := clips.(interface{ DistrictKey() string }); ok {
		return k.DistrictKey()
	}
	return ""
}

var jsonMarshal = json.Marshal
var jsonUnmarshal = json.Unmarshal
