package federation

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/matthan/matthan/daemon/search"
)

// district is a real NATS server (in process, JetStream in a folder) with
// the recommended configuration for some boxes.
type testServer struct {
	t     testing.TB
	conf  string
	srv   *server.Server
	url   string
	seeds map[string]string // box -> NKey seed
}

const districtUser, districtPass = "district", "district-secret-pass"

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newServer(t testing.TB, boxes ...string) *testServer {
	dir := t.TempDir()
	port := freePort(t)
	ts := &testServer{t: t, seeds: map[string]string{}, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	var users []BoxUser
	for _, b := range boxes {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		ts.seeds[b] = string(seed)
		users = append(users, BoxUser{Box: b, NKey: pub})
	}
	conf, err := ServerConfig(fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(dir, "js"), districtUser, districtPass, users, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ts.conf = filepath.Join(dir, "server.conf")
	if err := os.WriteFile(ts.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.start()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start() {
	opts, err := server.ProcessConfigFile(ts.conf)
	if err != nil {
		ts.t.Fatalf("server config: %v", err)
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		ts.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		ts.t.Fatal("nats server not ready")
	}
	ts.srv = s
}

func (ts *testServer) stop() {
	if ts.srv != nil {
		ts.srv.Shutdown()
		ts.srv.WaitForShutdown()
		ts.srv = nil
	}
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

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var jsonMarshal = json.Marshal
var jsonUnmarshal = json.Unmarshal
