package ingest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// chunkConn returns its data in reads of at most n bytes.
type chunkConn struct {
	net.Conn
	data []byte
	n    int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func frame(ch byte, payload []byte) []byte {
	return append([]byte{'$', ch, byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

func TestTapConn(t *testing.T) {
	big := bytes.Repeat([]byte{0x80, 0x60}, 20000) // larger than the tap's buffer
	rtspA := []byte("RTSP/1.0 200 OK\r\nCSeq: 1\r\ncontent-length: 5\r\n\r\nhello")
	rtspB := []byte("RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n")
	req := []byte("GET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 9\r\n\r\n")
	rtcp := frame(1, []byte{0x80, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	other := frame(2, []byte("audio"))
	var stream []byte
	for _, b := range [][]byte{rtspA, frame(0, []byte("rtp-1")), rtcp, frame(0, []byte("rtp-2")), rtspB, frame(0, big), other, req, frame(0, []byte("rtp-3"))} {
		stream = append(stream, b...)
	}
	wantPass := bytes.Join([][]byte{rtspA, rtcp, rtspB, other, req}, nil)
	wantRTP := [][]byte{[]byte("rtp-1"), []byte("rtp-2"), big, []byte("rtp-3")}

	for _, chunk := range []int{1, 3, 7, 1000, 1 << 20} {
		var got [][]byte
		tc := newTapConn(&chunkConn{data: bytes.Clone(stream), n: chunk}, func(p []byte) { got = append(got, bytes.Clone(p)) })
		tc.injectInterval = time.Hour
		tc.lastInject = time.Now()
		tc.rtp.Store(0)
		pass, err := io.ReadAll(tc)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if !bytes.Equal(pass, wantPass) {
			t.Fatalf("chunk %d: passed through %q, want %q", chunk, pass, wantPass)
		}
		if len(got) != len(wantRTP) {
			t.Fatalf("chunk %d: %d RTP packets, want %d", chunk, len(got), len(wantRTP))
		}
		for i := range got {
			if !bytes.Equal(got[i], wantRTP[i]) {
				t.Fatalf("chunk %d: RTP packet %d differs", chunk, i)
			}
		}
	}
}

func TestTapConnKeepAlive(t *testing.T) {
	var stream []byte
	for range 20 {
		stream = append(stream, frame(0, []byte("rtp"))...)
	}
	tc := newTapConn(&chunkConn{data: stream, n: 1 << 20}, func([]byte) {})
	tc.rtp.Store(0)
	pass, err := io.ReadAll(tc)
	if err != nil {
		t.Fatal(err)
	}
	// One receiver report on channel 1 (RTCP of channel 0) for gortsplib's timeout.
	want := []byte{'$', 1, 0, 8, 0x80, 201, 0, 1, 0, 0, 0, 1}
	if !bytes.Equal(pass, want) {
		t.Fatalf("passed %x, want %x", pass, want)
	}
}

func TestTapConnRejectsJunk(t *testing.T) {
	tc := newTapConn(&chunkConn{data: []byte("\x00\x01garbage\r\n\r\n"), n: 100}, func([]byte) {})
	_, err := io.ReadAll(tc)
	if !errors.Is(err, errRTSPFraming) {
		t.Fatalf("err = %v, want errRTSPFraming", err)
	}
}

func TestParseRTP(t *testing.T) {
	for _, tt := range []struct {
		name    string
		b       []byte
		wantErr bool
		want    rtpPacket
	}{
		{"plain", []byte{0x80, 0xe0, 0x12, 0x34, 0, 0, 1, 0, 9, 9, 9, 9, 0x65, 1}, false,
			rtpPacket{seq: 0x1234, ts: 256, marker: true, payloadType: 96, payload: []byte{0x65, 1}}},
		{"csrc and extension", []byte{0x91, 0x60, 0, 1, 0, 0, 0, 2, 9, 9, 9, 9, 7, 7, 7, 7, 0xbe, 0xde, 0, 1, 5, 5, 5, 5, 0x41}, false,
			rtpPacket{seq: 1, ts: 2, payloadType: 96, payload: []byte{0x41}}},
		{"padding", []byte{0xa0, 0x60, 0, 1, 0, 0, 0, 2, 9, 9, 9, 9, 0x41, 0, 0, 3}, false,
			rtpPacket{seq: 1, ts: 2, payloadType: 96, payload: []byte{0x41}}},
		{"short", []byte{0x80, 0x60, 0}, true, rtpPacket{}},
		{"version 1", []byte{0x40, 0x60, 0, 1, 0, 0, 0, 2, 9, 9, 9, 9, 1}, true, rtpPacket{}},
		{"padding too long", []byte{0xa0, 0x60, 0, 1, 0, 0, 0, 2, 9, 9, 9, 9, 0x41, 9}, true, rtpPacket{}},
		{"extension past end", []byte{0x90, 0x60, 0, 1, 0, 0, 0, 2, 9, 9, 9, 9, 0xbe, 0xde, 0, 9}, true, rtpPacket{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRTP(tt.b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (got.seq != tt.want.seq || got.ts != tt.want.ts || got.marker != tt.want.marker ||
				got.payloadType != tt.want.payloadType || !bytes.Equal(got.payload, tt.want.payload)) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzTapConn feeds arbitrary bytes: the tap must never panic, and what it
// passes on plus what it takes out never exceeds what came in.
func FuzzTapConn(f *testing.F) {
	f.Add([]byte("RTSP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok$\x00\x00\x03abc$\x01\x00\x01z"), 3)
	f.Add([]byte("$\x00\xff\xff"), 1)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		took := 0
		tc := newTapConn(&chunkConn{data: data, n: chunk}, func(p []byte) {
			took += len(p) + 4
			_, _ = parseRTP(p)
		})
		tc.injectInterval = time.Hour
		tc.lastInject = time.Now()
		tc.rtp.Store(0)
		pass, _ := io.ReadAll(tc)
		if len(pass)+took > len(data) {
			t.Fatalf("passed %d + took %d > %d in", len(pass), took, len(data))
		}
	})
}

// FuzzDepacketize runs arbitrary RTP payloads through the assembler and
// the pipeline into a checking sink: no panic, and the sink contract holds.
func FuzzDepacketize(f *testing.F) {
	f.Add([]byte{0x05, 0x67, 0x42, 0, 0x1f, 0xe9, 0x03, 0x68, 0xce, 0x3c, 0x80, 0x05, 0x65, 0x88, 0x84, 0x00, 0x33}, false)
	f.Add([]byte{0x04, 0x7c, 0x85, 1, 2, 0x03, 0x7c, 0x45, 3}, false)
	f.Add([]byte{0x06, 0x62, 0x01, 0x93, 0x05, 0x06, 0x07}, true)
	f.Fuzz(func(t *testing.T, data []byte, h265 bool) {
		codec := mediaH264
		if h265 {
			codec = mediaH265
		}
		sink := &checkSink{}
		var st counters
		p := newPipeline("fuzz", codec, sink, &st, slewDefaults)
		// A valid SPS/PPS from the SDP so that key frames can start streams.
		p.setParams(nil, []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40}, []byte{0x68, 0xce, 0x3c, 0x80})
		a := newAssembler(codec)
		emit := func(ts uint32, nalus [][]byte) { _ = p.accessUnit(ts, nalus) }
		seq := uint16(0)
		ts := uint32(0)
		// data is a list of packets: length byte, then payload; the
		// length byte's top bit is the marker.
		for len(data) > 0 {
			n := int(data[0] & 0x7f)
			marker := data[0]&0x80 != 0
			data = data[1:]
			n = min(n, len(data))
			_ = a.push(seq, ts, marker, data[:n], emit)
			data = data[n:]
			seq++
			if marker {
				ts += 3600
			}
		}
		p.end(nil)
		if len(sink.problems) > 0 {
			t.Fatalf("sink contract broken: %v", sink.problems)
		}
	})
}

func TestTapConnAdaptBatch(t *testing.T) {
	tc := newTapConn(&chunkConn{}, nil)
	tc.batchMax.Store(8 << 10)
	for _, tt := range []struct {
		bytesPerSec float64
		want        int
	}{
		{500e3, 8 << 10}, // 4 Mbit/s: capped
		{200e3, 4000},    // 1.6 Mbit/s: 20 ms worth
		{210e3, 4000},    // less than a quarter more: left alone
		{64e3, 1},        // a 512 kbit/s sub stream: not batched
		{0, 1},
	} {
		tc.adaptBatch(tt.bytesPerSec)
		if tc.batch != tt.want {
			t.Errorf("%.0f B/s: batch %d, want %d", tt.bytesPerSec, tc.batch, tt.want)
		}
	}
	tc.batchMax.Store(0)
	tc.adaptBatch(500e3)
	if tc.batch != 1 {
		t.Errorf("batching off: batch %d, want 1", tc.batch)
	}
}
