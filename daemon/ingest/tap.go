package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

type netConn = net.Conn

// dialer bounds how long a camera that does not answer can hold a
// connection attempt.
var dialer = &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 15 * time.Second}

// tapConn sits between gortsplib's RTSP client and the TCP connection to
// the camera. gortsplib does the RTSP conversation (authentication,
// DESCRIBE, SETUP, PLAY, keep-alives, TEARDOWN); the RTP packets of the
// video, interleaved on the same connection, are taken out of the byte
// stream here and handed straight to the depacketizer, without the
// per-packet allocations and bookkeeping of gortsplib's reader (which cost
// most of the daemon's CPU per stream). It also keeps gortsplib's
// RTP/RTCP parsers away from camera bytes (v4.16.2 can index out of range
// on a malformed H.265 aggregation packet).
//
// Everything else (RTSP responses and requests, RTCP, other channels)
// passes through unchanged. While video flows, a minimal RTCP receiver
// report is passed to gortsplib twice a second on the RTCP channel, so that
// its read timeout still detects a stalled camera.
type tapConn struct {
	net.Conn

	// rtp is the interleaved channel of the video's RTP packets, -1 until
	// the SETUP response named it.
	rtp   atomic.Int32
	onRTP func(pkt []byte)

	buf  []byte
	r, w int

	pass           int           // bytes of the current frame or message still to pass through
	inject         []byte        // synthetic bytes for gortsplib, given before anything else
	lastInject     time.Time     // when the last keep-alive report was injected
	injectInterval time.Duration // how often while video flows
	injectBuf      [12]byte
	sinceCheck     int // RTP packets since the clock was last read

	// Read batching (SO_RCVLOWAT), sized to the stream's bit rate.
	batchMax  atomic.Int32 // largest batch in bytes; 0: off
	batch     int          // batch now set on the socket
	rateStart time.Time
	rateBytes int
}

const (
	// batchLatency is how long a batch may hold the first packet in it.
	batchLatency = 20 * time.Millisecond
	// minBatch: below this a stream is too slow to be worth batching.
	minBatch   = 2 << 10
	rateWindow = 2 * time.Second
)

// adaptBatch sets SO_RCVLOWAT to what the stream delivers in batchLatency
// (bytesPerSec measured over the last window), so that a slow stream (a
// sub stream, a static night scene) is never held back long, and reading
// never waits for more than a stall would hide.
func (t *tapConn) adaptBatch(bytesPerSec float64) {
	maxB := int(t.batchMax.Load())
	want := int(bytesPerSec * batchLatency.Seconds())
	switch {
	case maxB <= 0 || want < minBatch:
		want = 1 // the kernel's default: wake on every byte
	case want > maxB:
		want = maxB
	}
	if want == t.batch || (want > 1 && t.batch > 1 && abs(want-t.batch) < t.batch/4) {
		return
	}
	if err := t.batchReads(want); err == nil {
		t.batch = want
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

const tapBuffer = 16 << 10

func newTapConn(c net.Conn, onRTP func([]byte)) *tapConn {
	t := &tapConn{Conn: c, onRTP: onRTP, buf: make([]byte, tapBuffer), injectInterval: 500 * time.Millisecond}
	t.rtp.Store(-1)
	return t
}

var errRTSPFraming = errors.New("RTSP stream out of step: neither '$' frame nor RTSP message")

// Read is called by gortsplib's single reader goroutine only.
func (t *tapConn) Read(p []byte) (int, error) {
	for {
		if len(t.inject) > 0 {
			n := copy(p, t.inject)
			t.inject = t.inject[n:]
			return n, nil
		}
		if t.pass > 0 {
			if t.r == t.w {
				if err := t.fill(1); err != nil {
					return 0, err
				}
			}
			n := copy(p, t.buf[t.r:min(t.w, t.r+t.pass)])
			t.r += n
			t.pass -= n
			return n, nil
		}
		if err := t.fill(1); err != nil {
			return 0, err
		}
		if t.buf[t.r] != '$' {
			n, err := t.rtspMessageLen()
			if err != nil {
				return 0, err
			}
			t.pass = n
			continue
		}
		if err := t.fill(4); err != nil {
			return 0, err
		}
		ch := int32(t.buf[t.r+1])
		size := int(t.buf[t.r+2])<<8 | int(t.buf[t.r+3])
		if ch != t.rtp.Load() || t.onRTP == nil {
			t.pass = 4 + size
			continue
		}
		if err := t.fill(4 + size); err != nil {
			return 0, err
		}
		t.onRTP(t.buf[t.r+4 : t.r+4+size])
		t.r += 4 + size
		t.rateBytes += 4 + size
		// Look at the clock every 16 packets only (a few times a second).
		if t.sinceCheck++; t.sinceCheck >= 16 {
			t.sinceCheck = 0
			now := time.Now()
			if now.Sub(t.lastInject) >= t.injectInterval {
				t.lastInject = now
				t.inject = t.keepAlive(byte(ch + 1))
			}
			if el := now.Sub(t.rateStart); el >= rateWindow {
				t.adaptBatch(float64(t.rateBytes) / el.Seconds())
				t.rateStart, t.rateBytes = now, 0
			}
		}
	}
}

// fill makes at least n bytes available at buf[r:], reading from the
// connection as needed (as much as the buffer takes per read).
func (t *tapConn) fill(n int) error {
	if t.w-t.r >= n {
		return nil
	}
	if n > len(t.buf) {
		nb := make([]byte, n+tapBuffer)
		t.w = copy(nb, t.buf[t.r:t.w])
		t.r, t.buf = 0, nb
	} else if t.r+n > len(t.buf) {
		t.w = copy(t.buf, t.buf[t.r:t.w])
		t.r = 0
	}
	for t.w-t.r < n {
		m, err := t.Conn.Read(t.buf[t.w:])
		t.w += m
		if err != nil && t.w-t.r < n {
			return err
		}
	}
	return nil
}

// rtspMessageLen finds the length of the RTSP message at buf[r:]: its
// header up to the empty line, plus Content-Length.
func (t *tapConn) rtspMessageLen() (int, error) {
	for {
		data := t.buf[t.r:t.w]
		if len(data) >= 4 && !bytes.HasPrefix(data, []byte("RTSP/")) && !isMethodStart(data) {
			return 0, fmt.Errorf("%w: %q", errRTSPFraming, data[:min(len(data), 16)])
		}
		if end := bytes.Index(data, []byte("\r\n\r\n")); end >= 0 {
			head := data[:end+4]
			return end + 4 + contentLength(head), nil
		}
		if t.w-t.r >= 8<<10 {
			return 0, fmt.Errorf("%w: RTSP header longer than 8 KiB", errRTSPFraming)
		}
		if err := t.fill(t.w - t.r + 1); err != nil {
			return 0, err
		}
	}
}

func isMethodStart(b []byte) bool {
	for _, c := range b[:4] {
		if (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

func contentLength(head []byte) int {
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err == nil && n >= 0 && n < 1<<20 {
				return n
			}
		}
	}
	return 0
}

// keepAlive is an interleaved RTCP receiver report with no report blocks.
func (t *tapConn) keepAlive(ch byte) []byte {
	b := t.injectBuf[:]
	copy(b, []byte{'$', ch, 0, 8, 0x80, 201, 0, 1, 0, 0, 0, 1})
	return b
}

// rtpPacket is the part of an RTP header the depacketizer needs.
type rtpPacket struct {
	seq         uint16
	ts          uint32
	marker      bool
	payloadType uint8
	payload     []byte
}

var errRTPHeader = errors.New("malformed RTP header")

// parseRTP reads an RTP packet (RFC 3550) without copying.
func parseRTP(b []byte) (rtpPacket, error) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpPacket{}, errRTPHeader
	}
	p := rtpPacket{
		marker:      b[1]&0x80 != 0,
		payloadType: b[1] & 0x7f,
		seq:         uint16(b[2])<<8 | uint16(b[3]),
		ts:          uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]),
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // header extension
		if len(b) < off+4 {
			return rtpPacket{}, errRTPHeader
		}
		off += 4 + 4*(int(b[off+2])<<8|int(b[off+3]))
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding
		if end == 0 || int(b[end-1]) > end-off {
			return rtpPacket{}, errRTPHeader
		}
		end -= int(b[end-1])
	}
	if off > end {
		return rtpPacket{}, errRTPHeader
	}
	p.payload = b[off:end]
	return p, nil
}

// batchReads asks the kernel to wake the reader only once at least n bytes
// are queued (SO_RCVLOWAT), so that one wake-up and one read take several
// packets. Only while video plays: RTSP responses are small, and the tap
// sizes n to the bit rate (adaptBatch).
func (t *tapConn) batchReads(n int) error {
	sc, ok := t.Conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
	})
	if err != nil {
		return err
	}
	return serr
}
