package webadmin

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/matthan/matthan/daemon/federation"
)

type fakeDistrict struct {
	mu  sync.Mutex
	cfg federation.Config
}

func (f *fakeDistrict) Settings() federation.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}
func (f *fakeDistrict) Apply(c federation.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = c
	return nil
}
func (f *fakeDistrict) Status() DistrictStatus { return DistrictStatus{LastSeq: 7, Acked: 5} }

// TestDistrictSettings: the technician saves the district link; the seed
// is write-only and kept when left empty; bad settings are refused; the
// change is audited with the district key's fingerprint.
func TestDistrictSettings(t *testing.T) {
	env := newTestEnv(t)
	tech := env.login("tech")
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _, _ := ed25519.GenerateKey(nil)
	dkey := base64.StdEncoding.EncodeToString(pub)
	for _, tt := range []struct {
		name string
		body map[string]string
		want int
	}{
		{"bad address", map[string]string{"url": "http://x", "box": "xa"}, http.StatusBadRequest},
		{"bad box ID", map[string]string{"url": "nats://d:4222", "box": "Xã A"}, http.StatusBadRequest},
		{"bad seed", map[string]string{"url": "nats://d:4222", "box": "xa", "nkeySeed": "SUnope"}, http.StatusBadRequest},
		{"bad key", map[string]string{"url": "nats://d:4222", "box": "xa", "districtKey": "abc"}, http.StatusBadRequest},
		{"relative creds", map[string]string{"url": "nats://d:4222", "box": "xa", "credsFile": "x.creds"}, http.StatusBadRequest},
		{"good", map[string]string{"url": "nats://d:4222", "box": "xa", "nkeySeed": string(seed), "districtKey": dkey}, http.StatusOK},
		{"seed kept", map[string]string{"url": "nats://d2:4222", "box": "xa", "districtKey": dkey}, http.StatusOK},
	} {
		b, _ := json.Marshal(tt.body)
		code, resp := tech.do("POST", "/api/system/district", string(b), "application/json")
		if code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, resp, tt.want)
		}
	}
	code, resp := tech.do("GET", "/api/system/district", "", "")
	if code != 200 || strings.Contains(resp, string(seed)) || !strings.Contains(resp, `"seedSet":true`) || !strings.Contains(resp, "nats://d2:4222") {
		t.Fatalf("settings read back: %d %s", code, resp)
	}
	recs, _ := env.s.audit.Read(auditFilterActor("tech", "change"), 100)
	found := false
	for _, r := range recs {
		found = found || strings.Contains(r.Detail, "district link: nats://d2:4222")
	}
	if !found {
		t.Errorf("district change not audited: %+v", recs)
	}
}
