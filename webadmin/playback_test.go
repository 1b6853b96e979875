package webadmin

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
)

// testFragSegment is a 10 s segment as the recorder writes it: one fragment
// a second of 25 pictures, a key frame every 2 s (fragments 0, 2, 4, ...).
var testFragSegment = buildTestSegment(nil)

// buildTestSegment makes testFragSegment, with a sound track when audio is
// set (each picture's worth of it: 1/25 s).
func buildTestSegment(audio *media.Audio) []byte {
	st := media.Stream{Codec: media.H264,
		SPS:   []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60},
		PPS:   []byte{0x68, 0xce, 0x3c, 0x80},
		Audio: audio}
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
			switch {
			case audio == nil:
			case audio.Codec == media.AAC:
				ab.AddSample([]byte{0x21, byte(i)}, fmp4.Sample{Duration: uint32(audio.SampleRate / 25), Key: true})
			default:
				ab.AddLPCM([]byte{0xd5, byte(i)}, audio.Codec, fmp4.Sample{Duration: uint32(audio.SampleRate / 25), Key: true})
			}
		}
		var rate uint64
		if audio != nil {
			rate = uint64(audio.SampleRate)
		}
		b = append(append(append(b, fb.HeaderAV(uint32(f+1), uint64(f)*fmp4.Timescale, &ab, uint64(f)*rate)...), fb.Payload()...), ab.Payload()...)
	}
	return b
}

func TestFragRangeStartsAtKeyFrame(t *testing.T) {
	l, err := fmp4.ScanSegment(bytes.NewReader(testFragSegment), int64(len(testFragSegment)))
	if err != nil || len(l.Fragments) != 10 {
		t.Fatalf("test segment: %d fragments, %v", len(l.Fragments), err)
	}
	for _, c := range []struct {
		from, dur  float64
		next       bool
		start, end int
		ok         bool
	}{
		{0, 8, false, 0, 8, true},
		{0.5, 1, false, 0, 2, true},
		{3.2, 2, false, 2, 6, true}, // key frame at 2 s; fragments up to 5.2 s
		{4, 1, false, 4, 5, true},
		{9.9, 8, false, 8, 10, true},
		{10, 1, false, 0, 0, false}, // past the end
		{42, 1, false, 0, 0, false},
		{3, 2, true, 3, 5, true}, // a continuation: no key frame needed
		{2.999, 1, true, 3, 4, true},
		{9.8, 1, true, 9, 10, true},
	} {
		start, end, ok := fragRange(l, c.from, c.dur, c.next)
		if start != c.start || end != c.end || ok != c.ok {
			t.Errorf("fragRange(from %v, for %v) = %d, %d, %v; want %d, %d, %v", c.from, c.dur, start, end, ok, c.start, c.end, c.ok)
		}
	}
}

// TestPlaybackFromTimeServesInitAndFragments: ?from= answers the init
// segment and only the fragments from the key frame before that time, a
// valid fMP4 on its own (ScanSegment reads it), audited like any playback.
func TestPlaybackFromTimeServesInitAndFragments(t *testing.T) {
	env := newTestEnv(t)
	c := env.login("officer")
	get := func(q string) (*http.Response, []byte) {
		resp, err := c.http.Get(env.srv.URL + "/api/recordings/cam1/frag-cam1.mp4" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("?from=3.2&for=2")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if h := resp.Header; h.Get("X-Media-Start") != "2.000" || h.Get("X-Media-End") != "6.000" || h.Get("X-Segment-End") != "10.000" {
		t.Errorf("headers start %q end %q segment end %q; want 2.000 6.000 10.000", h.Get("X-Media-Start"), h.Get("X-Media-End"), h.Get("X-Segment-End"))
	}
	l, err := fmp4.ScanSegment(bytes.NewReader(body), int64(len(body)))
	if err != nil || l.TailErr != nil || len(l.Fragments) != 4 || l.Fragments[0].BaseTime != 2*fmp4.Timescale || !l.Fragments[0].Samples[0].Key {
		t.Fatalf("answer: %d fragments (%v, %v), want 4 from the key frame at 2 s", len(l.Fragments), err, l.TailErr)
	}
	if len(body) >= len(testFragSegment)/2 {
		t.Errorf("answer of %d bytes for 4 of 10 fragments (segment %d)", len(body), len(testFragSegment))
	}
	for q, want := range map[string]int{"?from=10": http.StatusRequestedRangeNotSatisfiable, "?from=x": http.StatusBadRequest, "?from=-1": http.StatusBadRequest, "?from=1&for=0": http.StatusBadRequest} {
		if resp, body := get(q); resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", q, resp.StatusCode, body, want)
		}
	}
	if recs, _ := env.s.audit.Read(auditFilterActor("officer", "playback"), 100); len(recs) != 1 {
		t.Errorf("%d playback audit lines, want 1", len(recs))
	}
}
