package camsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	for _, tt := range []struct {
		method, path, query string
		want                Command
		status              int // 0: accepted
	}{
		{"GET", "/cameras", "", Command{Action: ActionList}, 0},
		{"GET", "/cameras/", "", Command{Action: ActionList}, 0},
		{"GET", "/cameras/cam1", "", Command{Action: ActionStatus, Camera: "cam1"}, 0},
		{"HEAD", "/cameras/cam1", "", Command{Action: ActionStatus, Camera: "cam1"}, 0},
		{"POST", "/cameras/cam1/drop", "", Command{Action: ActionDrop, Camera: "cam1"}, 0},
		{"POST", "/cameras/cam2/stall", "for=5s", Command{Action: ActionStall, Camera: "cam2", Duration: 5 * time.Second}, 0},
		{"POST", "/cameras/cam2/sdp-only", "", Command{Action: ActionSDPOnly, Camera: "cam2", On: true}, 0},
		{"POST", "/cameras/cam2/sdp-only", "on=false", Command{Action: ActionSDPOnly, Camera: "cam2"}, 0},
		{"POST", "/cameras/h265/jump", "by=-10s", Command{Action: ActionJump, Camera: "h265", Duration: -10 * time.Second}, 0},
		{"POST", "/cameras/cam1/wrap", "", Command{Action: ActionWrap, Camera: "cam1", Duration: 2 * time.Second}, 0},
		{"POST", "/cameras/cam1/wrap", "in=0s", Command{Action: ActionWrap, Camera: "cam1"}, 0},
		{"POST", "/cameras/cam1/garbage", "for=300ms", Command{Action: ActionGarbage, Camera: "cam1", Duration: 300 * time.Millisecond}, 0},
		{"POST", "/cameras/cam1/offline", "for=1m", Command{Action: ActionOffline, Camera: "cam1", Duration: time.Minute}, 0},
		{"POST", "/cameras/cam1/clear", "", Command{Action: ActionClear, Camera: "cam1"}, 0},

		{"POST", "/cameras/cam1/explode", "", Command{}, 400},
		{"POST", "/cameras/cam1/stall", "", Command{}, 400},
		{"POST", "/cameras/cam1/stall", "for=soon", Command{}, 400},
		{"POST", "/cameras/cam1/stall", "for=-1s", Command{}, 400},
		{"POST", "/cameras/cam1/stall", "for=0s", Command{}, 400},
		{"POST", "/cameras/cam1/stall", "for=25h", Command{}, 400},
		{"POST", "/cameras/cam1/stall", "for=1s&for=2s", Command{}, 400},
		{"POST", "/cameras/cam1/stall", "for=1s&by=2s", Command{}, 400},
		{"POST", "/cameras/cam1/stall", "for=%zz", Command{}, 400},
		{"POST", "/cameras/cam1/drop", "for=1s", Command{}, 400},
		{"POST", "/cameras/cam1/jump", "by=0s", Command{}, 400},
		{"POST", "/cameras/cam1/jump", "by=-48h", Command{}, 400},
		{"POST", "/cameras/cam1/wrap", "in=-1s", Command{}, 400},
		{"POST", "/cameras/cam1/wrap", "in=2h", Command{}, 400},
		{"POST", "/cameras/cam1/sdp-only", "on=maybe", Command{}, 400},
		{"POST", "/cameras/cam1/drop/now", "", Command{}, 400},
		{"POST", "/cameras//drop", "", Command{}, 400},
		{"GET", "/cameras/cam1/drop", "", Command{}, 405},
		{"POST", "/cameras/cam1", "", Command{}, 405},
		{"DELETE", "/cameras", "", Command{}, 405},
		{"GET", "/", "", Command{}, 404},
		{"GET", "/camerasX", "", Command{}, 404},
	} {
		t.Run(tt.method+" "+tt.path+"?"+tt.query, func(t *testing.T) {
			got, err := ParseCommand(tt.method, tt.path, tt.query)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %+v, %v; want a RequestError %d", got, err, tt.status)
			}
			if re.Status != tt.status || re.Msg == "" {
				t.Errorf("got %d %q, want %d with a reason", re.Status, re.Msg, tt.status)
			}
		})
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "/cameras", ""},
		{"GET", "/cameras/cam1", ""},
		{"POST", "/cameras/cam1/stall", "for=5s"},
		{"POST", "/cameras/cam1/jump", "by=-10s"},
		{"POST", "/cameras/cam1/wrap", "in=1s"},
		{"POST", "/cameras/cam1/sdp-only", "on=false"},
		{"POST", "/cameras/cam1/garbage", "for=1s&for=2s"},
		{"POST", "/cameras//x/y", "%zz=;"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, method, path, query string) {
		cmd, err := ParseCommand(method, path, query)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Msg == "" {
				t.Fatalf("error %v is not a RequestError with a reason", err)
			}
			switch re.Status {
			case 400, 404, 405:
			default:
				t.Fatalf("status %d", re.Status)
			}
			return
		}
		if cmd.Duration > MaxFaultDuration || cmd.Duration < -MaxFaultDuration {
			t.Fatalf("accepted duration %v", cmd.Duration)
		}
		switch cmd.Action {
		case ActionList:
			if cmd.Camera != "" {
				t.Fatalf("list with camera %q", cmd.Camera)
			}
		case ActionStall, ActionGarbage, ActionOffline:
			if cmd.Duration <= 0 || cmd.Camera == "" {
				t.Fatalf("accepted %+v", cmd)
			}
		case ActionStatus, ActionDrop, ActionSDPOnly, ActionJump, ActionWrap, ActionClear:
			if cmd.Camera == "" || strings.Contains(cmd.Camera, "/") {
				t.Fatalf("accepted camera %q", cmd.Camera)
			}
		default:
			t.Fatalf("accepted action %q", cmd.Action)
		}
	})
}

// TestControlEndpoint drives a running simulator over HTTP.
func TestControlEndpoint(t *testing.T) {
	sim := startSim(t, 2)
	srv := httptest.NewServer(sim.ControlHandler())
	defer srv.Close()

	do := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	for _, tt := range []struct {
		method, path string
		status       int
		body         string // substring
	}{
		{"POST", "/cameras/cam1/stall?for=abc", 400, "is not a duration"},
		{"POST", "/cameras/cam1/stall", 400, "needs ?for=DURATION"},
		{"POST", "/cameras/cam1/melt", 400, "unknown fault"},
		{"POST", "/cameras/cam1/garbage?for=1s&x=1", 400, `no parameter "x"`},
		{"POST", "/cameras/cam9/drop", 404, "cam1, cam2, h265"},
		{"GET", "/cameras/cam1/drop", 405, "use POST"},
		{"GET", "/nothing", 404, "under /cameras"},
	} {
		status, body := do(tt.method, tt.path)
		if status != tt.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tt.method, tt.path, status, tt.status, body)
		}
		if tt.status == 400 && !strings.Contains(body, "camsim: ") {
			t.Errorf("%s %s: body %q gives no reason", tt.method, tt.path, body)
		}
		if !strings.Contains(body, tt.body) {
			t.Errorf("%s %s: body %q, want it to mention %q", tt.method, tt.path, body, tt.body)
		}
	}

	status, body := do("POST", "/cameras/cam2/stall?for=30s")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); status != 200 || err != nil {
		t.Fatalf("stall: %d %s (%v)", status, body, err)
	}
	if st.Name != "cam2" || st.StallLeft < 29*time.Second {
		t.Errorf("status after stall: %+v", st)
	}
	if left := sim.Camera("cam2").Status().StallLeft; left < 29*time.Second {
		t.Errorf("camera stall left %v after the request", left)
	}
	do("POST", "/cameras/cam2/sdp-only")
	do("POST", "/cameras/cam2/jump?by=1s")
	if st := sim.Camera("cam2").Status(); !st.SDPOnly || st.TimestampOffset != rtpClockRate {
		t.Errorf("status after sdp-only and jump: %+v", st)
	}
	status, body = do("POST", "/cameras/cam2/clear")
	if err := json.Unmarshal([]byte(body), &st); status != 200 || err != nil || st.StallLeft != 0 || st.SDPOnly || st.TimestampOffset != 0 {
		t.Errorf("clear: %d %s", status, body)
	}

	status, body = do("GET", "/cameras")
	var all []Status
	if err := json.Unmarshal([]byte(body), &all); status != 200 || err != nil || len(all) != 3 {
		t.Fatalf("list: %d %s (%v)", status, body, err)
	}
	if all[2].Name != "h265" || all[2].Codec != "H265" || !strings.HasSuffix(all[0].SubURL, "/cam1/sub") {
		t.Errorf("list: %+v", all)
	}
}
