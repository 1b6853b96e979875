package webadmin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/matthan/matthan/firmware/netconf"
)

func TestNetworkSetting(t *testing.T) {
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), netconf.FileName)
	env.s.cfg.Network, env.s.cfg.BoxName, env.s.cfg.Uplink = netconf.Store{Path: path}, "matthan-3456", "lo"
	tech, officer := env.login("tech"), env.login("officer")

	code, body := tech.do("GET", "/api/system/network", "", "")
	var got struct {
		Name, Host string
		Addresses  []string
		Saved      *networkForm
	}
	if json.Unmarshal([]byte(body), &got); code != 200 || got.Host != "matthan-3456.local" || got.Saved != nil || !slices.Contains(got.Addresses, "127.0.0.1/8") {
		t.Errorf("GET before saving: %d %s", code, body)
	}
	for _, tt := range []struct {
		body   string
		status int
		msg    string // part of the answer
		file   string // part of the file afterwards ("" = unchanged)
	}{
		{`{"mode":"static","address":"192.168.1.50/24","gateway":"192.168.1.1","dns":["192.168.1.1"," 8.8.8.8 ",""]}`, 200, "khởi động lại", "address=192.168.1.50/24\ngateway=192.168.1.1\ndns=192.168.1.1, 8.8.8.8\n"},
		{`{"mode":"static","address":"192.168.1.60/24","gateway":"192.168.2.1"}`, 400, "Cấu hình mạng không hợp lệ: gateway 192.168.2.1 is outside 192.168.1.0/24", ""},
		{`{"mode":"static","address":"192.168.1.60"}`, 400, "address: want ADDRESS/PREFIX", ""},
		{`{"mode":"static","address":"192.168.1.0/24"}`, 400, "network's own address", ""},
		{`{"mode":"dhcp ","address":""}`, 400, "mode", ""},
		{`{"mode":"static","address":"192.168.1.60/24","netmask":"x"}`, 400, "unknown field", ""},
		{`{"mode":"dhcp"}`, 200, "Đã lưu", "address=dhcp\n"},
	} {
		before, _ := os.ReadFile(path)
		status, answer := tech.do("POST", "/api/system/network", tt.body, "")
		if status != tt.status || !strings.Contains(answer, tt.msg) {
			t.Errorf("POST %s: %d %s; want %d with %q", tt.body, status, answer, tt.status, tt.msg)
		}
		after, _ := os.ReadFile(path)
		if tt.file == "" && string(after) != string(before) {
			t.Errorf("POST %s changed the file:\n%s", tt.body, after)
		}
		if tt.file != "" && !strings.HasSuffix(string(after), tt.file) {
			t.Errorf("POST %s: file\n%s\nwant it to end with\n%s", tt.body, after, tt.file)
		}
	}
	// What the page saved is what init reads.
	if c, found, err := netconf.Load(path); err != nil || !found || !c.DHCP {
		t.Errorf("init reads %+v, %v, %v", c, found, err)
	}
	if _, body := tech.do("GET", "/api/system/network", "", ""); !strings.Contains(body, `"saved":{"mode":"dhcp"}`) {
		t.Errorf("GET after saving: %s", body)
	}
	if status, _ := officer.do("POST", "/api/system/network", `{"mode":"dhcp"}`, ""); status != 403 {
		t.Errorf("officer POST: %d, want 403", status)
	}
	if status, _ := officer.do("GET", "/api/system/network", "", ""); status != 403 {
		t.Errorf("officer GET: %d, want 403", status)
	}
	if _, body := tech.do("GET", "/api/audit?action=change", "", ""); !strings.Contains(body, "uplink network for the next boot: 192.168.1.50/24 gateway 192.168.1.1") {
		t.Errorf("audit log lacks the change: %s", body)
	}
}

// FuzzNetworkForm: whatever the page sends, the answer is a saved valid
// setting or a 400, never a panic or an invalid file.
func FuzzNetworkForm(f *testing.F) {
	f.Add("static", "192.168.1.50/24", "192.168.1.1", "8.8.8.8")
	f.Add("dhcp", "", "", "")
	f.Add("static", "10.0.0.0/8", "10.0.0.1", "x")
	f.Fuzz(func(t *testing.T, mode, addr, gw, dns string) {
		c, err := networkForm{Mode: mode, Address: addr, Gateway: gw, DNS: strings.Split(dns, ",")}.config()
		if err != nil {
			return
		}
		if again, err := netconf.Parse(c.Format()); err != nil || again.String() != c.String() {
			t.Fatalf("accepted %q %q %q %q → file that reads back as %v, %v", mode, addr, gw, dns, again, err)
		}
	})
}
