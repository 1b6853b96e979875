package motion

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/media"
)

// sinkLog records what reaches the recorder.
type sinkLog struct {
	bursts [][]time.Duration // DTS of each access unit, per StreamStarted
	keys   [][]bool
	ended  int
	open   bool
	bad    string
}

func (s *sinkLog) StreamStarted(media.Stream) error {
	if s.open {
		s.bad = "StreamStarted while open"
	}
	s.open = true
	s.bursts = append(s.bursts, nil)
	s.keys = append(s.keys, nil)
	return nil
}

func (s *sinkLog) WriteAccessUnit(au *media.AccessUnit) error {
	if !s.open {
		s.bad = "access unit outside a stream"
		return errors.New(s.bad)
	}
	// The payload holds the frame's DTS: the gate's copies must be intact.
	if got := time.Duration(binary.BigEndian.Uint64(au.NALUs[0][1:])); got != au.DTS {
		s.bad = "payload of a buffered access unit was overwritten"
	}
	i := len(s.bursts) - 1
	s.bursts[i] = append(s.bursts[i], au.DTS)
	s.keys[i] = append(s.keys[i], au.Key)
	return nil
}

func (s *sinkLog) StreamEnded(error) { s.ended++; s.open = false }

type motionAt func(time.Duration) bool

type fakeMotion struct {
	at  motionAt
	now time.Duration
}

func (f *fakeMotion) Active() bool { return f.at(f.now) }

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func TestGate(t *testing.T) {
	const frame = 40 * time.Millisecond // 25 fps, key frame every 2 s
	for _, tt := range []struct {
		name   string
		cfg    GateConfig
		motion motionAt
		want   [][2]time.Duration // each burst's first and last DTS
	}{
		{name: "continuous", cfg: GateConfig{Mode: Continuous}, motion: func(time.Duration) bool { return false },
			want: [][2]time.Duration{{0, sec(59.96)}}},
		{name: "no motion", cfg: GateConfig{Mode: OnMotion}, motion: func(time.Duration) bool { return false }},
		{name: "one event", cfg: GateConfig{Mode: OnMotion, Pre: sec(5), Post: sec(10)},
			motion: func(d time.Duration) bool { return d >= sec(20) && d < sec(22) },
			want:   [][2]time.Duration{{sec(14), sec(31.96)}}},
		{name: "close events merge", cfg: GateConfig{Mode: OnMotion, Pre: sec(3), Post: sec(4)},
			motion: func(d time.Duration) bool { return d >= sec(10) && d < sec(11) || d >= sec(16) && d < sec(17) },
			want:   [][2]time.Duration{{sec(6), sec(21.96)}}},
		{name: "separate events", cfg: GateConfig{Mode: OnMotion, Pre: sec(1), Post: sec(2)},
			motion: func(d time.Duration) bool { return d >= sec(10) && d < sec(11) || d >= sec(30) && d < sec(31) },
			want:   [][2]time.Duration{{sec(8), sec(13.96)}, {sec(28), sec(33.96)}}},
		{name: "motion at the very start", cfg: GateConfig{Mode: OnMotion, Pre: sec(5), Post: sec(1)},
			motion: func(d time.Duration) bool { return d < sec(0.5) },
			want:   [][2]time.Duration{{0, sec(1.96)}}},
		{name: "motion at the end", cfg: GateConfig{Mode: OnMotion, Pre: sec(2), Post: sec(10)},
			motion: func(d time.Duration) bool { return d >= sec(57) },
			want:   [][2]time.Duration{{sec(54), sec(59.96)}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log := &sinkLog{}
			m := &fakeMotion{at: tt.motion}
			g := NewGate(log, m, tt.cfg)
			if err := g.StreamStarted(media.Stream{Camera: "c", Codec: media.H264}); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 9) // reused for every access unit, as ingest does
			for i := 0; i < 1500; i++ {
				dts := time.Duration(i) * frame
				buf[0] = 0x41
				if i%50 == 0 {
					buf[0] = 0x65
				}
				binary.BigEndian.PutUint64(buf[1:], uint64(dts))
				m.now = dts
				if err := g.WriteAccessUnit(&media.AccessUnit{DTS: dts, PTS: dts, Key: i%50 == 0, NALUs: [][]byte{buf}}); err != nil {
					t.Fatal(err)
				}
			}
			g.StreamEnded(nil)
			if log.bad != "" {
				t.Fatal(log.bad)
			}
			if len(log.bursts) != len(tt.want) || log.ended != len(tt.want) {
				t.Fatalf("%d bursts, %d ended; want %d", len(log.bursts), log.ended, len(tt.want))
			}
			for i, b := range log.bursts {
				if b[0] != tt.want[i][0] || b[len(b)-1] != tt.want[i][1] {
					t.Errorf("burst %d: %v..%v, want %v..%v", i, b[0], b[len(b)-1], tt.want[i][0], tt.want[i][1])
				}
				if !log.keys[i][0] {
					t.Errorf("burst %d does not start on a key frame", i)
				}
				for j := 1; j < len(b); j++ {
					if b[j]-b[j-1] != frame {
						t.Fatalf("burst %d has a gap at %v", i, b[j])
					}
				}
			}
		})
	}
}

func TestGateBoundsBuffer(t *testing.T) {
	log := &sinkLog{}
	g := NewGate(log, &fakeMotion{at: func(time.Duration) bool { return false }}, GateConfig{Mode: OnMotion, Pre: time.Hour, MaxBuffer: 1 << 20})
	g.StreamStarted(media.Stream{Codec: media.H264})
	big := make([]byte, 64<<10)
	for i := 0; i < 1000; i++ {
		big[0] = 0x41
		binary.BigEndian.PutUint64(big[1:], uint64(i))
		g.WriteAccessUnit(&media.AccessUnit{DTS: time.Duration(i), Key: i%10 == 0, NALUs: [][]byte{big}})
	}
	if g.bytes > 1<<20+10*len(big) {
		t.Fatalf("pre-event buffer holds %d bytes, bound is 1 MiB (+ one group)", g.bytes)
	}
}

func TestParseRecordMode(t *testing.T) {
	for s, want := range map[string]RecordMode{"continuous": Continuous, "motion": OnMotion, "": Continuous} {
		if m, err := ParseRecordMode(s); err != nil || m != want {
			t.Errorf("ParseRecordMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseRecordMode("sometimes"); err == nil {
		t.Error("accepted a bad mode")
	}
}
