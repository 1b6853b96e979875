package webadmin

import (
	"strings"
	"testing"
)

// TestRecordAudioSwitch: the camera's "Ghi âm thanh / Record audio" switch
// is off unless an officer turns it on, and when on, everyone who sees the
// camera (its household too) is told.
func TestRecordAudioSwitch(t *testing.T) {
	env := newTestEnv(t)
	off, house1 := env.login("officer"), env.login("house1")
	if _, body := house1.do("GET", "/api/cameras", "", ""); strings.Contains(body, `"recordAudio":true`) {
		t.Fatalf("sound recorded by default: %s", body)
	}
	if code, body := off.do("POST", "/api/cameras", `{"id":"cam1","name":"Cổng nhà A","url":"rtsp://127.0.0.1:8554/cam1","household":"h1","recordAudio":true}`, ""); code != 200 {
		t.Fatalf("turn sound on: %d %s", code, body)
	}
	if c, _ := env.s.cams.Get("cam1"); !c.RecordAudio {
		t.Error("the switch was not saved")
	}
	if _, body := house1.do("GET", "/api/cameras", "", ""); !strings.Contains(body, `"recordAudio":true`) {
		t.Errorf("the household is not told its camera records sound: %s", body)
	}
	off.do("POST", "/api/cameras", `{"id":"cam1","name":"Cổng nhà A","url":"rtsp://127.0.0.1:8554/cam1","household":"h1"}`, "")
	if c, _ := env.s.cams.Get("cam1"); c.RecordAudio {
		t.Error("saving the form without the switch left sound on")
	}
}
