package live

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/hwtest/testenv"
)

// clipAUs is the first n access units of a camera clip, 40 ms apart
// (recordtest cuts it as the ingest would deliver it).
func clipAUs(t testing.TB, n int) []media.AccessUnit {
	aus := recordtest.LoadClip(t, "moving-720p.h264").AUs
	return aus[:min(n, len(aus))]
}

// watching starts camera cam1's feed with st and first, and subscribes a
// viewer to it.
func watching(t *testing.T, st media.Stream, first *media.AccessUnit) (*Hub, *Feed, *Subscription) {
	t.Helper()
	hub := NewHub()
	f := hub.Feed("cam1")
	f.StreamStarted(st)
	f.WriteAccessUnit(first)
	sub, err := hub.Subscribe("cam1")
	if err != nil {
		t.Fatal(err)
	}
	return hub, f, sub
}

func TestViewerStartsAtLastKeyFrameAndFfprobeReadsIt(t *testing.T) {
	ffprobe := testenv.LookTool(t, "ffprobe", "ffmpeg")
	aus := clipAUs(t, 150)
	hub := NewHub()
	f := hub.Feed("cam1")
	if _, err := hub.Subscribe("nocam"); err == nil {
		t.Error("subscribe to unknown camera worked")
	}
	if err := f.StreamStarted(media.Stream{Camera: "cam1", Codec: media.H264, Epoch: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// 60 pictures: one key frame at 0 and at 50; a viewer joining now must
	// start at picture 50.
	for i := range aus[:60] {
		if err := f.WriteAccessUnit(&aus[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !hub.Streaming("cam1") {
		t.Error("not streaming after a key frame")
	}
	sub, err := hub.Subscribe("cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range aus[60:] {
		f.WriteAccessUnit(&aus[60+i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	first, err := sub.Next(ctx)
	if err != nil || first.Start == nil || len(first.Init) == 0 {
		t.Fatalf("first message %+v, %v: want Start and init", first.Start, err)
	}
	if first.Start.Codec != "avc1.4d401f" || first.Start.Width != 1280 || first.Start.Height != 720 {
		t.Errorf("start %+v, want avc1.4d401f 1280x720", first.Start)
	}
	var file bytes.Buffer
	file.Write(first.Init)
	n := 0
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			break
		}
		if n == 0 && (!m.Key || m.DTS != 50*40*time.Millisecond) {
			t.Fatalf("viewer's first fragment: key=%v dts=%v, want the key frame at 2s", m.Key, m.DTS)
		}
		file.Write(m.Frag)
		n++
		if n == 100 {
			break
		}
	}
	if n != 100 {
		t.Fatalf("got %d fragments, want 100 (pictures 50..149)", n)
	}
	out := filepath.Join(t.TempDir(), "live.mp4")
	os.WriteFile(out, file.Bytes(), 0o644)
	res, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames,codec_name,width", "-of", "csv=p=0", out).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, res)
	}
	if got := strings.TrimSpace(string(res)); got != "h264,1280,100" {
		t.Errorf("ffprobe says %q, want h264,1280,100", got)
	}
}

func TestSlowViewerSkipsToNextKeyFrame(t *testing.T) {
	aus := clipAUs(t, 150)
	_, f, sub := watching(t, media.Stream{Camera: "cam1", Codec: media.H264, Epoch: time.Now()}, &aus[0])
	sub.C = make(chan Message, 8) // a tiny queue that overflows at once
	f.mu.Lock()
	f.subs = map[*Subscription]struct{}{sub: {}}
	f.mu.Unlock()
	for i := 1; i < 120; i++ {
		f.WriteAccessUnit(&aus[i])
		if i == 20 { // the viewer drains its queue late
			for len(sub.C) > 0 {
				<-sub.C
			}
		}
	}
	// After the overflow, the queue resumed only at a key frame.
	m := <-sub.C
	if !m.Key {
		t.Errorf("after overflow the viewer got a non-key fragment at %v", m.DTS)
	}
	sub.Close()
	sub.Close() // twice is fine
}

func TestStreamRestartSendsNewInit(t *testing.T) {
	aus := clipAUs(t, 60)
	hub, f, sub := watching(t, media.Stream{Camera: "cam1", Codec: media.H264, Epoch: time.Now()}, &aus[0])
	defer sub.Close()
	f.StreamEnded(nil)
	if hub.Streaming("cam1") {
		t.Error("streaming after the end")
	}
	f.StreamStarted(media.Stream{Camera: "cam1", Codec: media.H264, Epoch: time.Now()})
	f.WriteAccessUnit(&aus[1]) // not a key frame: dropped
	f.WriteAccessUnit(&aus[50])
	var starts int
	for len(sub.C) > 0 {
		if m := <-sub.C; m.Start != nil {
			starts++
		}
	}
	if starts != 2 {
		t.Errorf("%d starts, want 2 (first stream, restarted stream)", starts)
	}
}

// A camera back from an outage with the same parameter sets in its SDP (the
// usual case) must announce itself again to the viewers already watching
// (the picture froze until reload before), and a viewer that joined during
// the outage must get its Start too; the outage itself is announced.
func TestStreamRestartWithSDPParamsAnnouncesAgain(t *testing.T) {
	aus := clipAUs(t, 60)
	_, sps, pps := media.ParamSets(media.H264, aus[0].NALUs)
	if sps == nil || pps == nil {
		t.Fatal("clip's first access unit has no SPS/PPS")
	}
	st := media.Stream{Camera: "cam1", Codec: media.H264, SPS: sps, PPS: pps, Epoch: time.Now()}
	hub, f, viewer := watching(t, st, &aus[0])
	defer viewer.Close()
	f.StreamEnded(nil)
	joined, _ := hub.Subscribe("cam1") // the wall opened during the outage
	defer joined.Close()
	f.StreamStarted(st)
	f.WriteAccessUnit(&aus[0])
	f.WriteAccessUnit(&aus[1])
	count := func(sub *Subscription) (starts, ended, frags int) {
		for len(sub.C) > 0 {
			m := <-sub.C
			switch {
			case m.Start != nil:
				starts++
			case m.Ended:
				ended++
			default:
				frags++
			}
		}
		return
	}
	if s, e, n := count(viewer); s != 2 || e != 1 || n != 3 {
		t.Errorf("viewer watching through the outage: %d starts, %d ended, %d fragments; want 2, 1, 3", s, e, n)
	}
	if s, e, n := count(joined); s != 1 || e != 0 || n != 2 {
		t.Errorf("viewer joined during the outage: %d starts, %d ended, %d fragments; want 1, 0, 2", s, e, n)
	}
}

func TestRefusesUnknownCodec(t *testing.T) {
	f := NewHub().Feed("c")
	if err := f.StreamStarted(media.Stream{Codec: media.Codec(99)}); err == nil {
		t.Error("a stream of no known codec accepted")
	}
}

// FuzzWriteAccessUnit feeds broken pictures (what a broken camera sends):
// never a panic.
func FuzzWriteAccessUnit(f *testing.F) {
	f.Add([]byte{0x67, 0x4d, 0x40, 0x1f}, []byte{0x68, 0xee}, []byte{0x65, 0x88}, true, uint8(1))
	f.Add([]byte{0x40, 0x01}, []byte{0x42, 0x01, 0x01}, []byte{0x26, 0x01}, true, uint8(2))
	f.Add([]byte{}, []byte{0x41}, []byte{0x01}, false, uint8(1))
	f.Fuzz(func(t *testing.T, a, b, c []byte, key bool, codec uint8) {
		fd := NewHub().Feed("c")
		cd := media.H264
		if codec%2 == 0 {
			cd = media.H265
		}
		fd.StreamStarted(media.Stream{Codec: cd, SPS: a, PPS: b, VPS: c})
		au := media.AccessUnit{Key: key, NALUs: [][]byte{a, b, c}}
		fd.WriteAccessUnit(&au)
		au.DTS = 40 * time.Millisecond
		fd.WriteAccessUnit(&au)
	})
}

var _ = strconv.Itoa
