package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFromArgs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.json")
	if err := os.WriteFile(file, []byte(`{"data_dir":"/d","listen":"127.0.0.1:9000","retention_days":7,
		"cameras":[{"name":"gate","url":"rtsp://u:p@10.0.0.2/s","household":"Nguyễn Văn A","recording":"motion"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "flags with two cameras",
			args: []string{"-data", "/tmp/x", "-listen", "127.0.0.1:8081", "-allow-loopback-cameras", "-camera", "cam1=rtsp://127.0.0.1:8554/cam1", "-camera", "cam2=rtsp://127.0.0.1:8554/cam2"},
			check: func(t *testing.T, c *Config) {
				if len(c.Cameras) != 2 || c.Cameras[1].Name != "cam2" || c.Cameras[1].Recording != RecordContinuous {
					t.Errorf("cameras = %+v", c.Cameras)
				}
				if c.RetentionDays != DefaultRetentionDays || c.MaxLossSeconds != DefaultMaxLoss {
					t.Errorf("defaults not applied: %+v", c)
				}
			},
		},
		{
			name: "config file, flag overrides listen",
			args: []string{"-config", file, "-listen", "127.0.0.1:9999"},
			check: func(t *testing.T, c *Config) {
				if c.Listen != "127.0.0.1:9999" || c.DataDir != "/d" || c.RetentionDays != 7 {
					t.Errorf("got %+v", c)
				}
				if c.Cameras[0].Household != "Nguyễn Văn A" || c.Cameras[0].Recording != RecordMotion {
					t.Errorf("camera %+v", c.Cameras[0])
				}
			},
		},
		{name: "no data dir", args: []string{"-camera", "a=rtsp://h/x"}, wantErr: "data_dir"},
		{
			name: "ntp servers and set-clock",
			args: []string{"-data", "/d", "-ntp", "10.0.2.2:12345,pool.ntp.org", "-set-clock"},
			check: func(t *testing.T, c *Config) {
				if len(c.NTPServers) != 2 || c.NTPServers[0] != "10.0.2.2:12345" || !c.SetClock {
					t.Errorf("ntp %v set-clock %v", c.NTPServers, c.SetClock)
				}
			},
		},
		{
			name: "no ntp flag: defaults, host clock only watched",
			args: []string{"-data", "/d"},
			check: func(t *testing.T, c *Config) {
				if c.NTPServers != nil || c.SetClock {
					t.Errorf("ntp %v set-clock %v", c.NTPServers, c.SetClock)
				}
			},
		},
		{name: "ntp bad port", args: []string{"-data", "/d", "-ntp", "h:99999"}, wantErr: "ntp_servers"},
		{name: "ntp bad name", args: []string{"-data", "/d", "-ntp", "a b"}, wantErr: "ntp_servers"},
		{name: "ntp off with others", args: []string{"-data", "/d", "-ntp", "off,h"}, wantErr: "stands alone"},
		{
			name: "no-motion turns analysis off on every camera",
			args: []string{"-data", "/d", "-no-motion", "-camera", "a=rtsp://h/x", "-camera", "b=rtsp://h/y"},
			check: func(t *testing.T, c *Config) {
				for _, cam := range c.Cameras {
					if !cam.NoMotion {
						t.Errorf("camera %s: NoMotion false, want true", cam.Name)
					}
				}
			},
		},
		// Motion recording cannot work without analysis.
		{name: "no-motion with motion recording", args: []string{"-config", file, "-no-motion"}, wantErr: "needs motion analysis"},
		{
			// A fresh box has no cameras: it must start and serve the admin page.
			name: "no cameras is fine", args: []string{"-data", "/d"},
			check: func(t *testing.T, c *Config) {
				if len(c.Cameras) != 0 || c.TLSAddress() != "127.0.0.1:8443" {
					t.Errorf("got %+v, TLS %s", c, c.TLSAddress())
				}
			},
		},
		{
			name: "sub stream and TLS address",
			args: []string{"-data", "/d", "-listen", ":80", "-camera", "a=rtsp://h/cam1,rtsp://h/cam1/sub"},
			check: func(t *testing.T, c *Config) {
				if c.Cameras[0].URL != "rtsp://h/cam1" || c.Cameras[0].SubURL != "rtsp://h/cam1/sub" || c.TLSAddress() != ":443" {
					t.Errorf("got %+v, TLS %s", c.Cameras[0], c.TLSAddress())
				}
			},
		},
		{name: "explicit TLS address", args: []string{"-data", "/d", "-listen", "127.0.0.1:1000", "-listen-tls", "127.0.0.1:2000"},
			check: func(t *testing.T, c *Config) {
				if c.TLSAddress() != "127.0.0.1:2000" {
					t.Errorf("TLS %s", c.TLSAddress())
				}
			}},
		{name: "TLS address equals HTTP", args: []string{"-data", "/d", "-listen", "127.0.0.1:1000", "-listen-tls", "127.0.0.1:1000"}, wantErr: "must differ"},
		{name: "bad sub url", args: []string{"-data", "/d", "-camera", "a=rtsp://h/x,rtsp://"}, wantErr: "sub_url"},
		{name: "camera without =", args: []string{"-data", "/d", "-camera", "rtsp://h/x"}, wantErr: "NAME=rtsp"},
		{name: "http url", args: []string{"-data", "/d", "-camera", "a=http://h/x"}, wantErr: "scheme must be rtsp"},
		{name: "path in name", args: []string{"-data", "/d", "-camera", "../etc=rtsp://h/x"}, wantErr: "name \"../etc\""},
		{name: "duplicate name", args: []string{"-data", "/d", "-camera", "a=rtsp://h/x", "-camera", "A=rtsp://h/y"}, wantErr: "used twice"},
		{name: "bad listen", args: []string{"-data", "/d", "-listen", "8080", "-camera", "a=rtsp://h/x"}, wantErr: "HOST:PORT"},
		{name: "bad port", args: []string{"-data", "/d", "-listen", "127.0.0.1:99999", "-camera", "a=rtsp://h/x"}, wantErr: "port"},
		{name: "bad max loss", args: []string{"-data", "/d", "-max-loss", "100", "-camera", "a=rtsp://h/x"}, wantErr: "max_loss_seconds"},
		{name: "stray argument", args: []string{"-data", "/d", "oops"}, wantErr: "unexpected argument"},
		{name: "missing file", args: []string{"-config", filepath.Join(dir, "nope.json")}, wantErr: "no such file"},
		{name: "loopback camera without the flag", args: []string{"-data", "/d", "-camera", "a=rtsp://127.0.0.1:8554/x"}, wantErr: "-allow-loopback-cameras"},
		{name: "numeric host form", args: []string{"-data", "/d", "-allow-loopback-cameras", "-camera", "a=rtsp://0x7f000001:8554/x"}, wantErr: "not allowed"},
		{name: "public camera", args: []string{"-data", "/d", "-camera", "a=rtsp://8.8.8.8/x"}, wantErr: "not allowed"},
		{name: "password not in error", args: []string{"-data", "/d", "-camera", "a=http://admin:secret@h/x"}, wantErr: "http://h/x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromArgs(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, json, wantErr string
	}{
		{"ok", `{"data_dir":"/d","cameras":[{"name":"a","url":"rtsp://h/x"}]}`, ""},
		{"unknown field", `{"data_dir":"/d","retention":3,"cameras":[{"name":"a","url":"rtsp://h/x"}]}`, "unknown field"},
		{"syntax error names the line", "{\"data_dir\":\"/d\",\n\"cameras\":[}", "line 2"},
		{"bad mode", `{"data_dir":"/d","cameras":[{"name":"a","url":"rtsp://h/x","recording":"sometimes"}]}`, "want continuous, motion or off"},
		{"wrong type", `{"data_dir":"/d","retention_days":"30","cameras":[]}`, "retention_days"},
		{"trailing data", `{"data_dir":"/d","cameras":[{"name":"a","url":"rtsp://h/x"}]} {}`, "extra data"},
		{"negative retention", `{"data_dir":"/d","retention_days":-1,"cameras":[{"name":"a","url":"rtsp://h/x"}]}`, "retention_days -1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"data_dir":"/d","cameras":[{"name":"a","url":"rtsp://h/x"}]}`))
	f.Add([]byte(`{"data_dir":"/d","listen":"[::1]:80","max_loss_seconds":0.5,"cameras":[{"name":"a","url":"rtsps://u:p@h:554/x","recording":"off"}]}`))
	f.Add([]byte(`{"cameras":[{"name":"../../x","url":"rtsp://%zz"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever passes must be safe to use as folder names and URLs.
		for _, cam := range c.Cameras {
			if strings.ContainsAny(cam.Name, "/\\.") && strings.Contains(cam.Name, "..") || strings.Contains(cam.Name, "/") {
				t.Fatalf("unsafe camera name %q accepted", cam.Name)
			}
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}

func FuzzCameraFlag(f *testing.F) {
	f.Add("cam1=rtsp://127.0.0.1:8554/cam1")
	f.Add("=")
	f.Add("a=b=c")
	f.Fuzz(func(t *testing.T, v string) {
		cam, err := ParseCameraFlag(v)
		if err != nil {
			return
		}
		if cam.Name+"="+cam.URL != v {
			t.Fatalf("round trip: %q -> %+v", v, cam)
		}
	})
}

// A configured camera's record carries its name as the ID and a mode the
// page knows; it validates as the page's records do.
func TestCameraRecord(t *testing.T) {
	for _, tt := range []struct {
		recording, mode string
	}{
		{RecordContinuous, "continuous"},
		{RecordMotion, "motion"},
		{RecordOff, "continuous"},
	} {
		c := Camera{Name: "cong-truoc", URL: "rtsp://192.168.50.11/s", Household: "nha-5", Recording: tt.recording, PreSeconds: 3, PostSeconds: 8}
		r := c.Record()
		if r.ID != c.Name || r.Mode != tt.mode || r.PreSec != 3 || r.PostSec != 8 || r.Household != "nha-5" {
			t.Errorf("%s: %+v", tt.recording, r)
		}
		if key, ok := r.Validate(); !ok {
			t.Errorf("%s: record invalid: %s", tt.recording, key)
		}
	}
}

func TestTimeZone(t *testing.T) {
	c, err := FromArgs([]string{"-data", t.TempDir()}, io.Discard)
	if err != nil || c.TimeZone != "Asia/Ho_Chi_Minh" {
		t.Fatalf("default zone %q: %v", c.TimeZone, err)
	}
	if _, off := time.Date(2026, 12, 7, 3, 23, 0, 0, c.Location()).Zone(); off != 7*3600 {
		t.Errorf("default zone offset %d", off)
	}
	if _, err := FromArgs([]string{"-data", t.TempDir(), "-tz", "Mars/Olympus"}, io.Discard); err == nil || !strings.Contains(err.Error(), "time_zone") {
		t.Errorf("unknown zone: %v", err)
	}
}
