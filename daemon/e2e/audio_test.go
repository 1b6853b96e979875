package e2e

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/hwtest/testenv"
)

// TestRecordAudio: three simulated cameras send sound (cam1 AAC, cam2 G.711
// A-law, cam3 μ-law) and a fourth does not; matthand records with
// -record-audio for ~12 s. ffprobe judges every segment: a video and an
// audio stream (AAC as sent, G.711 as 16-bit LPCM), durations that agree,
// starts within 0.1 s of each other, and sound that is not silence. An
// export of cam2 carries the sound too, and its signed manifest lists both
// tracks.
func TestRecordAudio(t *testing.T) {
	t.Parallel()
	testenv.LookTool(t, "ffprobe", "ffmpeg")
	testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "clips", "tone-8k.alaw"), "make clips")
	sim := startCamsimArgs(t, "-cameras", "4", "-no-h265-camera", "-quiet", "-audio", "1=aac,2=pcma,3=pcmu")
	names := []string{"cam1", "cam2", "cam3", "cam4"}
	data := t.TempDir()
	d := startDaemon(t, data, freePort(t), []string{"-no-motion", "-record-audio"}, cameraArgs(sim, names...)...)
	t0 := time.Now()
	d.waitRecording(t, t0, 10*time.Second, names...)
	time.Sleep(12*time.Second - time.Since(t0))
	to := time.Now().Add(-time.Second).UTC()
	ex, err := d.client.Export(context.Background(), "cam2", to.Add(-6*time.Second), to)
	if err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(t.TempDir(), "export.mp4")
	if err := os.WriteFile(export, ex.Clip, 0o600); err != nil {
		t.Fatal(err)
	}
	d.stop(t, syscall.SIGTERM, 5*time.Second)
	d.checkNoPanic(t)

	want := map[string]string{"cam1": "aac", "cam2": "pcm_s16le", "cam3": "pcm_s16le", "cam4": ""}
	for _, n := range names {
		files := segmentFiles(t, data, n)
		if len(files) == 0 {
			t.Errorf("%s: no segments", n)
			continue
		}
		for _, f := range files {
			checkAudioFile(t, n+"/"+filepath.Base(f), filepath.Join(data, "recordings", f), want[n])
		}
	}
	checkAudioFile(t, "export of cam2", export, "pcm_s16le")
	var m evidence.Manifest
	if err := json.Unmarshal(ex.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Tracks) != 2 || m.Tracks[0].Kind != "video" || m.Tracks[1] != (evidence.Track{Kind: "audio", Codec: "sowt", SampleRate: 8000, Channels: 1}) {
		t.Errorf("export manifest tracks %+v, want the video and the 8 kHz LPCM sound", m.Tracks)
	}
}

// checkAudioFile judges one file with ffprobe and ffmpeg: its streams,
// their durations and starts, and that the sound is a tone, not silence.
func checkAudioFile(t *testing.T, name, path, wantAudio string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,start_time,duration",
		"-of", "compact=p=0:nk=1", path).Output()
	if err != nil {
		t.Errorf("%s: ffprobe: %v", name, err)
		return
	}
	type st struct {
		codec      string
		start, dur float64
	}
	streams := map[string]st{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 4 {
			continue
		}
		start, _ := strconv.ParseFloat(f[2], 64)
		dur, _ := strconv.ParseFloat(f[3], 64)
		streams[f[1]] = st{codec: f[0], start: start, dur: dur}
	}
	v, a := streams["video"], streams["audio"]
	if v.codec != "h264" {
		t.Errorf("%s: video %+v", name, v)
	}
	if wantAudio == "" {
		if a.codec != "" {
			t.Errorf("%s: a camera without sound has an audio stream %+v", name, a)
		}
		return
	}
	if a.codec != wantAudio {
		t.Errorf("%s: audio codec %q, want %q (streams %q)", name, a.codec, wantAudio, out)
		return
	}
	if math.Abs(a.start-v.start) > 0.1 {
		t.Errorf("%s: audio starts at %.3f s, video at %.3f s", name, a.start, v.start)
	}
	// A segment's last fragment holds up to half a second of each track,
	// which the other may not have reached yet.
	if v.dur < 1 || math.Abs(a.dur-v.dur) > 0.6 {
		t.Errorf("%s: audio lasts %.3f s, video %.3f s", name, a.dur, v.dur)
	}
	vol, err := exec.Command("ffmpeg", "-v", "info", "-nostats", "-i", path, "-map", "0:a", "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Errorf("%s: ffmpeg decoding the sound: %v\n%s", name, err, firstLines(vol, 5))
		return
	}
	// The tone's amplitude is 0.4 (-8 dB peak, ~-11 dB mean).
	i := strings.Index(string(vol), "mean_volume: ")
	if i < 0 {
		t.Errorf("%s: no volume:\n%s", name, firstLines(vol, 10))
		return
	}
	mean, _ := strconv.ParseFloat(strings.Fields(string(vol[i+len("mean_volume: "):]))[0], 64)
	if mean < -16 || mean > -8 {
		t.Errorf("%s: sound mean volume %.1f dB, want the tone's ~-11 dB", name, mean)
	}
	t.Logf("%s: video %.3f+%.3f s, audio %s %.3f+%.3f s, %.1f dB", name, v.start, v.dur, a.codec, a.start, a.dur, mean)
}
