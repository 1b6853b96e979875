package webadmin

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
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

// testSoundSegment is testFragSegment with a sound track: 8 kHz G.711
// recorded as LPCM, or 16 kHz AAC.
func testSoundSegment(aac bool) []byte {
	st := media.Stream{Codec: media.H264,
		SPS:   []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60},
		PPS:   []byte{0x68, 0xce, 0x3c, 0x80},
		Audio: &media.Audio{Codec: media.PCMA, SampleRate: 8000, Channels: 1}}
	if aac {
		st.Audio = &media.Audio{Codec: media.AAC, SampleRate: 16000, Channels: 1, Config: []byte{0x14, 0x08}}
	}
	b, err := fmp4.InitSegment(st)
	if err != nil {
		panic(err)
	}
	var fb, ab fmp4.FragmentBuilder
	for f := range 10 {
		fb.Reset()
		ab.Reset()
		for i := range 25 {
			key := i == 0 && f%2 == 0
			nal := []byte{0x41, 0x9a, byte(f), byte(i)}
			if key {
				nal[0] = 0x65
			}
			fb.AddNALUs(media.H264, [][]byte{nal}, fmp4.Sample{Duration: fmp4.Timescale / 25, Key: key})
			if aac {
				ab.AddSample([]byte{0x21, byte(i)}, fmp4.Sample{Duration: 640, Key: true})
			} else {
				ab.AddLPCM([]byte{0xd5, byte(i)}, media.PCMA, fmp4.Sample{Duration: 320, Key: true})
			}
		}
		rate := uint64(st.Audio.SampleRate)
		b = append(append(append(b, fb.HeaderAV(uint32(f+1), uint64(f)*fmp4.Timescale, &ab, uint64(f)*rate)...), fb.Payload()...), ab.Payload()...)
	}
	return b
}

// TestPlaybackSound: a recording's AAC sound goes to the page as it is
// (the page declares it to MSE); LPCM sound, which MSE cannot play, is
// taken out of the piece, whose pictures stay whole; the X-Audio header
// tells the page which.
func TestPlaybackSound(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("officer")
	for _, tt := range []struct {
		file, header string
		audio        bool
	}{{"lpcm-cam1.mp4", "sowt", false}, {"aac-cam1.mp4", "mp4a", true}} {
		resp, err := c.http.Get(env.srv.URL + "/api/recordings/cam1/" + tt.file + "?from=3.2&for=2")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Audio") != tt.header || resp.Header.Get("X-Media-Start") != "2.000" {
			t.Fatalf("%s: %d, X-Audio %q, start %q: %s", tt.file, resp.StatusCode, resp.Header.Get("X-Audio"), resp.Header.Get("X-Media-Start"), body)
		}
		if n, _ := strconv.Atoi(resp.Header.Get("Content-Length")); n != len(body) {
			t.Errorf("%s: Content-Length %d, body %d", tt.file, n, len(body))
		}
		l, err := fmp4.ScanSegment(bytes.NewReader(body), int64(len(body)))
		if err != nil || l.TailErr != nil || len(l.Fragments) != 4 || (l.Init.Audio != nil) != tt.audio {
			t.Fatalf("%s: %d fragments, audio %+v (%v, %v)", tt.file, len(l.Fragments), l.Init.Audio, err, l.TailErr)
		}
		for i, fr := range l.Fragments {
			if (len(fr.Audio) > 0) != tt.audio || len(fr.Samples) != 25 {
				t.Fatalf("%s: fragment %d: %d pictures, %d audio samples", tt.file, i, len(fr.Samples), len(fr.Audio))
			}
			for j, sm := range fr.Samples {
				want := []byte{0, 0, 0, 4, 0x41, 0x9a, byte(i + 2), byte(j)}
				if j == 0 && (i+2)%2 == 0 {
					want[4] = 0x65
				}
				if got := body[sm.Offset : sm.Offset+int64(sm.Size)]; !bytes.Equal(got, want) {
					t.Fatalf("%s: fragment %d picture %d: %x, want %x", tt.file, i, j, got, want)
				}
			}
		}
	}
}
