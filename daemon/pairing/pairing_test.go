package pairing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/cameras"
	"github.com/matthan/matthan/daemon/camnet"
	"github.com/matthan/matthan/daemon/discovery"
	"github.com/matthan/matthan/daemon/onvif"
	"github.com/matthan/matthan/daemon/pairing"
	"github.com/matthan/matthan/hwtest/camsim"
)

var loopback = camnet.Policy{AllowLoopback: true}

func store(t *testing.T) *cameras.Store {
	t.Helper()
	s, err := cameras.Open(filepath.Join(t.TempDir(), cameras.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// simCamera serves a simulated camera's ONVIF device on 127.0.0.1.
func simCamera(t *testing.T, serial string) (*camsim.Device, discovery.Found) {
	t.Helper()
	d := &camsim.Device{Maker: "Dahua", Model: "IPC-HFW1230S", Serial: serial, User: "admin", Password: "Secret123",
		MainURI: "rtsp://127.0.0.1:8554/cam1", SubURI: "rtsp://127.0.0.1:8554/cam1/sub", Skew: 7 * time.Minute}
	mux := http.NewServeMux()
	mux.Handle("/onvif/", d)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return d, discovery.Found{Endpoint: "urn:uuid:" + serial, Addr: netip.MustParseAddr("127.0.0.1"), Device: srv.URL + "/onvif/device_service",
		MAC: "02:00:00:00:00:" + serial[len(serial)-2:], Last: time.Now()}
}

func TestOpenCloseWindow(t *testing.T) {
	var mu sync.Mutex
	var changes []bool
	m := pairing.New(pairing.Config{Records: store(t), Policy: loopback, Window: 200 * time.Millisecond, OnChange: func(open bool) {
		mu.Lock()
		changes = append(changes, open)
		mu.Unlock()
	}})
	_, f := simCamera(t, "S01")
	m.Found(f)
	if n := len(m.Status().Candidates); n != 0 {
		t.Fatalf("a camera found while pairing is closed is listed (%d)", n)
	}
	m.Open()
	if !m.IsOpen() {
		t.Fatal("not open")
	}
	m.Found(f)
	if st := m.Status(); len(st.Candidates) != 1 || !st.Open || st.Candidates[0].State != "new" || st.Candidates[0].MAC != "02:00:00:00:00:01" {
		t.Fatalf("status %+v", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.IsOpen() {
		if time.Now().After(deadline) {
			t.Fatal("pairing did not close by itself")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Errorf("OnChange calls %v, want [true false]", changes)
	}
	mu.Unlock()
	if len(m.Status().Candidates) != 1 {
		t.Error("the new camera found in the window is no longer listed")
	}
}

// The whole pairing of a simulated camera: login over ONVIF (skewed
// clock), the streams found, paired to a household; its password is in
// the record on disk and nowhere the page sees.
func TestCameraNetworkPairSimulatedCamera(t *testing.T) {
	recs := store(t)
	var applied []cameras.Record
	m := pairing.New(pairing.Config{Records: recs, Policy: loopback, Apply: func(_ context.Context, r cameras.Record) error {
		applied = append(applied, r)
		return recs.Put(r)
	}})
	d, f := simCamera(t, "S02")
	m.Open()
	m.Found(f)
	key := pairing.CandidateKey(f)
	if _, err := m.Pair(context.Background(), key, pairing.PairRequest{ID: "cam5", Name: "Cổng nhà 5", Household: "nha-5"}); !errors.Is(err, pairing.ErrNotReady) {
		t.Fatalf("pair before login: %v", err)
	}
	c, err := m.Login(context.Background(), key, "admin", "Secret123", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != "ready" || c.Maker != "Dahua" || c.Serial != "S02" || c.Main != d.MainURI || c.Sub != d.SubURI || c.ClockOffsetSec < 400 || c.ClockOffsetSec > 440 {
		t.Fatalf("candidate %+v", c)
	}
	main, sub, err := m.Streams(key)
	if err != nil || main != "rtsp://admin:Secret123@127.0.0.1:8554/cam1" || sub != "rtsp://admin:Secret123@127.0.0.1:8554/cam1/sub" {
		t.Fatalf("streams %q %q %v", main, sub, err)
	}
	b, _ := json.Marshal(m.Status())
	if strings.Contains(string(b), "Secret123") {
		t.Fatalf("status shows the password: %s", b)
	}
	if _, err := m.Pair(context.Background(), key, pairing.PairRequest{ID: "cam5", Name: "Cổng nhà 5"}); !errors.Is(err, pairing.ErrHouseholdOrRoad) {
		t.Fatalf("no household, not road: %v", err)
	}
	r, err := m.Pair(context.Background(), key, pairing.PairRequest{ID: "cam5", Name: "Cổng nhà 5", Household: "nha-5"})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := recs.Get("cam5")
	if !ok || got.URL != main || got.SubURL != sub || !got.Paired || got.MAC != f.MAC || got.Serial != "S02" || got.ONVIF != f.Device || got.Household != "nha-5" || r.ID != "cam5" {
		t.Fatalf("record %+v", got)
	}
	shown, _ := json.Marshal(got.WithoutPassword())
	if strings.Contains(string(shown), "Secret123") {
		t.Fatalf("record as shown has the password: %s", shown)
	}
	if len(m.Status().Candidates) != 0 {
		t.Error("paired camera still listed as new")
	}
	if len(applied) != 1 {
		t.Errorf("applied %d times", len(applied))
	}
	// The page changes the factory password through ONVIF SetUser.
	if err := m.SetPassword(context.Background(), "cam5", "Moi-Mat-Khau-9"); err != nil {
		t.Fatal(err)
	}
	got, _ = recs.Get("cam5")
	if d.CurrentPassword() != "Moi-Mat-Khau-9" || !strings.Contains(got.URL, "Moi-Mat-Khau-9") || !strings.Contains(got.SubURL, "Moi-Mat-Khau-9") {
		t.Errorf("password change: camera %q, record %q", d.CurrentPassword(), got.URL)
	}
}

// A refused login is never sent again; another login may be tried.
func TestCameraNetworkLoginNotRetried(t *testing.T) {
	m := pairing.New(pairing.Config{Records: store(t), Policy: loopback})
	d, f := simCamera(t, "S03")
	m.Open()
	m.Found(f)
	key := pairing.CandidateKey(f)
	c, err := m.Login(context.Background(), key, "admin", "123456", "")
	if !errors.Is(err, onvif.ErrWrongPassword) || c.State != "wrong_password" {
		t.Fatalf("wrong password: %+v %v", c, err)
	}
	for i := 0; i < 3; i++ {
		if _, err := m.Login(context.Background(), key, "admin", "123456", ""); !errors.Is(err, pairing.ErrTriedLogin) {
			t.Fatalf("same login again: %v", err)
		}
	}
	if d.Failures() != 1 {
		t.Fatalf("camera saw %d failed logins, want 1", d.Failures())
	}
	if c, err := m.Login(context.Background(), key, "admin", "Secret123", ""); err != nil || c.State != "ready" {
		t.Fatalf("right login: %+v %v", c, err)
	}
}

// A paired camera back on another address (same MAC) is followed; a
// different camera on its old address is not taken for it.
func TestCameraNetworkReaddress(t *testing.T) {
	recs := store(t)
	rec := cameras.Record{ID: "cam1", Name: "Nhà 1", URL: "rtsp://admin:pw@10.0.0.5/cam/realmonitor?channel=1&subtype=0",
		SubURL: "rtsp://admin:pw@10.0.0.5/cam/realmonitor?channel=1&subtype=1", ONVIF: "http://10.0.0.5/onvif/device_service",
		MAC: "02:00:00:00:00:05", Serial: "X5", Household: "nha-1", Mode: cameras.Continuous, Paired: true}
	if err := recs.Put(rec); err != nil {
		t.Fatal(err)
	}
	m := pairing.New(pairing.Config{Records: recs})
	// Another camera on the old address, pairing closed: nothing changes.
	m.Found(discovery.Found{Endpoint: "urn:uuid:other", Addr: netip.MustParseAddr("10.0.0.5"), Device: "http://10.0.0.5/onvif/device_service", MAC: "02:00:00:00:00:77"})
	if got, _ := recs.Get("cam1"); got.URL != rec.URL {
		t.Fatalf("another camera changed the record: %s", got.URL)
	}
	m.Open()
	m.Found(discovery.Found{Endpoint: "urn:uuid:other", Addr: netip.MustParseAddr("10.0.0.5"), Device: "http://10.0.0.5/onvif/device_service", MAC: "02:00:00:00:00:77"})
	if st := m.Status(); len(st.Candidates) != 1 || st.Candidates[0].MAC != "02:00:00:00:00:77" {
		t.Fatalf("the other camera should be listed as new: %+v", st)
	}
	m.Close()
	// The paired camera on a new address.
	m.Found(discovery.Found{Endpoint: "urn:uuid:cam1", Addr: netip.MustParseAddr("10.0.0.9"), Device: "http://10.0.0.9:8080/onvif/device_service", MAC: "02:00:00:00:00:05"})
	got, _ := recs.Get("cam1")
	if got.URL != "rtsp://admin:pw@10.0.0.9/cam/realmonitor?channel=1&subtype=0" || got.SubURL != "rtsp://admin:pw@10.0.0.9/cam/realmonitor?channel=1&subtype=1" ||
		got.ONVIF != "http://10.0.0.9:8080/onvif/device_service" || got.Household != "nha-1" {
		t.Fatalf("record not moved: %+v", got)
	}
	if n := len(m.Status().Candidates); n != 1 {
		t.Errorf("%d candidates; the paired camera must not be listed as new", n)
	}
}

// Without a lease (no MAC), a paired camera is known by its serial once
// logged in: pairing it moves its record, keeping its name and owner.
func TestCameraNetworkKnownBySerial(t *testing.T) {
	recs := store(t)
	_, f := simCamera(t, "S04")
	f.MAC = ""
	old := cameras.Record{ID: "cam4", Name: "Nhà 4", URL: "rtsp://admin:Secret123@10.0.0.4/x", Serial: "S04", Maker: "Dahua", Household: "nha-4", Paired: true}
	if err := recs.Put(old); err != nil {
		t.Fatal(err)
	}
	m := pairing.New(pairing.Config{Records: recs, Policy: loopback})
	m.Open()
	m.Found(f)
	key := pairing.CandidateKey(f)
	c, err := m.Login(context.Background(), key, "admin", "Secret123", "")
	if err != nil || c.Known != "cam4" {
		t.Fatalf("login: %+v %v", c, err)
	}
	if _, err := m.Pair(context.Background(), key, pairing.PairRequest{}); err != nil {
		t.Fatal(err)
	}
	got, _ := recs.Get("cam4")
	if got.Name != "Nhà 4" || got.Household != "nha-4" || !strings.Contains(got.URL, "127.0.0.1:8554/cam1") {
		t.Fatalf("record %+v", got)
	}
	if len(recs.List()) != 1 {
		t.Errorf("%d records, want the one moved", len(recs.List()))
	}
}

// A camera without ONVIF: the maker's usual paths.
func TestNoONVIFKnownPaths(t *testing.T) {
	m := pairing.New(pairing.Config{Records: store(t), Identify: func(context.Context, string, string, string, camnet.Policy) (onvif.Info, error) {
		return onvif.Info{}, fmt.Errorf("x: %w", onvif.ErrNoONVIF)
	}})
	m.Open()
	m.Found(discovery.Found{Endpoint: "e", Addr: netip.MustParseAddr("10.0.0.7"), Device: "http://10.0.0.7/onvif/device_service"})
	c, err := m.Login(context.Background(), pairing.KeyOf("e"), "admin", "ABCDEF", "Ezviz")
	if err != nil || c.State != "known_paths" || c.Main != "rtsp://10.0.0.7/h264/ch1/main/av_stream" || c.Sub != "rtsp://10.0.0.7/h264/ch1/sub/av_stream" {
		t.Fatalf("%+v %v", c, err)
	}
	r, err := m.Pair(context.Background(), c.Key, pairing.PairRequest{ID: "duong-1", Name: "Ngã ba", Road: true})
	if err != nil || r.Household != "" || r.URL != "rtsp://admin:ABCDEF@10.0.0.7/h264/ch1/main/av_stream" {
		t.Fatalf("%+v %v", r, err)
	}
}

// 200 cameras appearing while pairing is open: the list stays bounded.
func TestCameraNetworkCandidatesBounded(t *testing.T) {
	m := pairing.New(pairing.Config{Records: store(t)})
	m.Open()
	for i := 0; i < 200; i++ {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)})
		m.Found(discovery.Found{Endpoint: fmt.Sprint("e", i), Addr: a, Device: "http://" + a.String() + "/onvif/device_service"})
	}
	if n := len(m.Status().Candidates); n != pairing.MaxCandidates {
		t.Fatalf("%d candidates", n)
	}
}

// A camera added by hand gets its sub stream: from the known layout, or
// from its ONVIF profiles (one question, with the main stream's login).
func TestCameraNetworkFindSub(t *testing.T) {
	sub, err := pairing.FindSub(context.Background(), camnet.Policy{}, "rtsp://admin:pw@10.0.0.5/Streaming/Channels/101", nil)
	if err != nil || sub != "rtsp://admin:pw@10.0.0.5/Streaming/Channels/102" {
		t.Fatalf("known layout: %q %v", sub, err)
	}
	d, f := simCamera(t, "S06")
	d.MainURI, d.SubURI = "rtsp://127.0.0.1:8554/live/ch00_0", "rtsp://127.0.0.1:8554/live/ch00_1"
	calls := 0
	viaTestServer := func(ctx context.Context, device, user, password string, pol camnet.Policy) (onvif.Info, error) {
		calls++
		if device != "http://127.0.0.1/onvif/device_service" {
			t.Errorf("asked %s", device)
		}
		c := &onvif.Client{Device: f.Device, User: user, Password: password, Policy: pol}
		return c.Identify(ctx)
	}
	sub, err = pairing.FindSub(context.Background(), loopback, "rtsp://admin:Secret123@127.0.0.1:8554/live/ch00_0", viaTestServer)
	if err != nil || sub != "rtsp://admin:Secret123@127.0.0.1:8554/live/ch00_1" || calls != 1 {
		t.Fatalf("by ONVIF: %q %v (%d calls)", sub, err, calls)
	}
	if _, err := pairing.FindSub(context.Background(), loopback, "rtsp://admin:Secret123@127.0.0.1:8554/other", viaTestServer); err == nil {
		t.Fatal("a stream the camera's profiles do not name got a sub stream")
	}
}

// A camera with ONVIF (and WS-Discovery) off is listed by its DHCP lease;
// with its maker chosen it gets the maker's usual paths. Found again by
// WS-Discovery (same MAC) it stays one entry.
func TestCameraNetworkFoundByLease(t *testing.T) {
	calls := []string{}
	m := pairing.New(pairing.Config{Records: store(t), Identify: func(_ context.Context, device, _, _ string, _ camnet.Policy) (onvif.Info, error) {
		calls = append(calls, device)
		return onvif.Info{}, fmt.Errorf("x: %w", onvif.ErrNoONVIF)
	}})
	a := netip.MustParseAddr("10.0.0.12")
	m.FoundLease(a, "02:00:00:00:00:12", "IPC")
	if n := len(m.Status().Candidates); n != 0 {
		t.Fatalf("listed while closed: %d", n)
	}
	m.Open()
	m.FoundLease(a, "02:00:00:00:00:12", "IPC")
	st := m.Status()
	if len(st.Candidates) != 1 || st.Candidates[0].MAC != "02:00:00:00:00:12" || st.Candidates[0].Hostname != "IPC" {
		t.Fatalf("%+v", st)
	}
	key := st.Candidates[0].Key
	c, err := m.Login(context.Background(), key, "admin", "pw123456", "KBVision")
	if err != nil || c.State != "known_paths" || c.Main != "rtsp://10.0.0.12/cam/realmonitor?channel=1&subtype=0" {
		t.Fatalf("%+v %v", c, err)
	}
	if len(calls) != 1 || calls[0] != "http://10.0.0.12/onvif/device_service" {
		t.Errorf("asked %v", calls)
	}
	m.Found(discovery.Found{Endpoint: "urn:uuid:x", Addr: a, Device: "http://10.0.0.12:8000/onvif/device_service", MAC: "02:00:00:00:00:12", Hardware: "IPC-K22"})
	st = m.Status()
	if len(st.Candidates) != 1 || st.Candidates[0].Key != key || st.Candidates[0].Model != "IPC-K22" {
		t.Fatalf("found twice: %+v", st)
	}
}
