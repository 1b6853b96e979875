package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/matthan/matthan/daemon/clock"
	"github.com/matthan/matthan/daemon/h264"
	"github.com/matthan/matthan/daemon/media"
	"github.com/matthan/matthan/hwtest/camsim"
	"github.com/matthan/matthan/hwtest/testenv"
)

// recSink records what reaches it.
type recSink struct {
	streams []media.Stream
	aus     [][][]byte
}

func (r *recSink) StreamStarted(s media.Stream) error { r.streams = append(r.streams, s); return nil }
func (r *recSink) WriteAccessUnit(au *media.AccessUnit) error {
	var cp [][]byte
	for _, n := range au.NALUs {
		cp = append(cp, bytes.Clone(n))
	}
	r.aus = append(r.aus, cp)
	return nil
}
func (r *recSink) StreamEnded(error) {}

func TestPipelineParameterSets(t *testing.T) {
	b, err := os.ReadFile(testenv.NeedFile(t, filepath.Join(testenv.OutDir(), "clips", camsim.ClipMoving720), "make clips"))
	if err != nil {
		t.Fatal(err)
	}
	var sps, pps []byte
	for _, n := range h264.NALUnits(b) {
		switch n[0] & 0x1f {
		case 7:
			sps = n
		case 8:
			pps = n
		}
		if sps != nil && pps != nil {
			break
		}
	}
	idr := []byte{0x65, 0x88, 1, 2}
	p1 := []byte{0x41, 0x9a, 3}
	junkPPS := []byte{0x68, 0xff, 0xee}

	for _, tt := range []struct {
		name     string
		sdpSPS   []byte
		sdpPPS   []byte
		units    [][][]byte
		wantPPS  []byte // PPS in front of the last key frame
		wantAUs  int
		wantKeys int
	}{
		{
			name:    "in band with the key frame",
			units:   [][][]byte{{sps, pps, idr}, {p1}},
			wantPPS: pps, wantAUs: 2, wantKeys: 1,
		},
		{
			name:    "in band alone just before the key frame",
			units:   [][][]byte{{sps, pps}, {idr}, {p1}},
			wantPPS: pps, wantAUs: 2, wantKeys: 1,
		},
		{
			name:   "SDP only: put in front of every key frame",
			sdpSPS: sps, sdpPPS: pps,
			units:   [][][]byte{{p1}, {idr}, {p1}, {idr}},
			wantPPS: pps, wantAUs: 3, wantKeys: 2,
		},
		{
			name:   "a PPS next to a P-frame is ignored",
			sdpSPS: sps, sdpPPS: pps,
			units:   [][][]byte{{idr}, {junkPPS, p1}, {idr}},
			wantPPS: pps, wantAUs: 3, wantKeys: 2,
		},
		{
			name:   "a PPS alone not followed by a key frame is forgotten",
			sdpSPS: sps, sdpPPS: pps,
			units:   [][][]byte{{idr}, {junkPPS}, {p1}, {idr}},
			wantPPS: pps, wantAUs: 3, wantKeys: 2,
		},
		{
			name:  "no parameter sets anywhere: nothing recorded",
			units: [][][]byte{{idr}, {p1}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recSink{}
			var st counters
			p := newPipeline("t", media.H264, sink, &st, clock.Config{})
			p.setParams(nil, tt.sdpSPS, tt.sdpPPS)
			for i, u := range tt.units {
				_ = p.accessUnit(uint32(i*3600), u)
			}
			if len(sink.aus) != tt.wantAUs {
				t.Fatalf("%d access units reached the sink, want %d", len(sink.aus), tt.wantAUs)
			}
			keys := 0
			var lastPPS []byte
			for _, au := range sink.aus {
				if au[len(au)-1][0]&0x1f == 5 {
					keys++
					if !bytes.Equal(au[0], sps) {
						t.Errorf("key frame without the SPS in front: %x", au[0])
					}
					lastPPS = au[1]
				}
			}
			if keys != tt.wantKeys || (tt.wantKeys > 0 && !bytes.Equal(lastPPS, tt.wantPPS)) {
				t.Fatalf("%d key frames, last PPS %x; want %d, %x", keys, lastPPS, tt.wantKeys, tt.wantPPS)
			}
			if len(sink.streams) > 1 {
				t.Errorf("%d streams started, want at most 1", len(sink.streams))
			}
		})
	}
}
