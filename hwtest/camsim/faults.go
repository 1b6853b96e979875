package camsim

import (
	"math/rand/v2"
	"sync"
	"time"
)

// faultState is what a camera has been told to do wrong. Guarded by Camera.mu.
type faultState struct {
	stallUntil   time.Time
	garbageUntil time.Time
	offlineUntil time.Time
	sdpOnly      bool
	tsOffset     uint32 // added to every RTP timestamp (mod 2^32)
}

// faultSnapshot is the state as seen by one frame.
type faultSnapshot struct {
	stalled, garbage, sdpOnly bool
	tsOffset                  uint32
}

func (c *Camera) snapshot(now time.Time) faultSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := &c.faults
	return faultSnapshot{
		stalled:  now.Before(f.stallUntil) || now.Before(f.offlineUntil),
		garbage:  now.Before(f.garbageUntil),
		sdpOnly:  f.sdpOnly,
		tsOffset: f.tsOffset,
	}
}

// Drop closes every RTSP session of the camera (main and sub) now. Clients
// may reconnect at once.
func (c *Camera) Drop() {
	n := c.sim.handler.closeSessions(c)
	c.sim.cfg.Logf("camsim: %s: dropped %d sessions", c.name, n)
}

// Stall stops sending packets for d; connections stay open. Timestamps
// continue from the wall clock afterwards, so they jump by d as with a real
// camera that froze.
func (c *Camera) Stall(d time.Duration) {
	c.setFaults(func(f *faultState) { f.stallUntil = time.Now().Add(d) }, "stall for %v", d)
}

// SetSDPOnly, when on, strips the parameter sets (SPS/PPS, and VPS for
// H.265) from the stream; they remain in the SDP only.
func (c *Camera) SetSDPOnly(on bool) {
	c.setFaults(func(f *faultState) { f.sdpOnly = on }, "sdp-only %v", on)
}

// JumpTimestamps adds d (forward or, if negative, backward) to the RTP
// timestamps of every later packet. Jumps add up.
func (c *Camera) JumpTimestamps(d time.Duration) {
	c.setFaults(func(f *faultState) { f.tsOffset += uint32(durationToTicks(d)) }, "timestamps jump by %v", d)
}

// WrapTimestamps moves the RTP timestamps so that the 32-bit counter wraps
// around (passes 0xFFFFFFFF to 0) in d from now.
func (c *Camera) WrapTimestamps(d time.Duration) {
	c.setFaults(func(f *faultState) { f.tsOffset = uint32(-durationToTicks(d)) - rtpTime(time.Now()) }, "timestamps wrap in %v", d)
}

// Garbage sends random payloads (with the clip's sequence numbers,
// timestamps and markers) instead of the video for d.
func (c *Camera) Garbage(d time.Duration) {
	c.setFaults(func(f *faultState) { f.garbageUntil = time.Now().Add(d) }, "garbage for %v", d)
}

// Offline drops the camera's sessions and refuses it for d: DESCRIBE and
// SETUP answer 503 Service Unavailable until then.
func (c *Camera) Offline(d time.Duration) {
	c.setFaults(func(f *faultState) { f.offlineUntil = time.Now().Add(d) }, "offline for %v", d)
	c.sim.handler.closeSessions(c)
}

// Clear ends every fault: streaming resumes, parameter sets go back in band
// and the timestamp offset returns to zero (itself a jump if one was set).
func (c *Camera) Clear() {
	c.setFaults(func(f *faultState) { *f = faultState{} }, "faults cleared")
}

func (c *Camera) offline() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.faults.offlineUntil)
}

// Status is a camera's state, as the control endpoint reports it.
type Status struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	SubURL      string `json:"sub_url"`
	Codec       string `json:"codec"`
	MainReaders int    `json:"main_readers"`
	SubReaders  int    `json:"sub_readers"`
	// Remaining durations of timed faults, zero when not active.
	StallLeft   time.Duration `json:"stall_left_ns"`
	GarbageLeft time.Duration `json:"garbage_left_ns"`
	OfflineLeft time.Duration `json:"offline_left_ns"`
	SDPOnly     bool          `json:"sdp_only"`
	// TimestampOffset is what is added to RTP timestamps, in 90 kHz ticks (mod 2^32).
	TimestampOffset uint32 `json:"timestamp_offset"`
	// LostPackets counts packets a too slow reader did not get (its write
	// queue was full).
	LostPackets uint64 `json:"lost_packets"`
}

// Status reports the camera's readers and active faults.
func (c *Camera) Status() Status {
	now := time.Now()
	left := func(t time.Time) time.Duration { return max(0, t.Sub(now)) }
	m, s := c.Readers()
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{
		Name: c.name, URL: c.URL(), SubURL: c.SubURL(), Codec: c.Codec().String(),
		MainReaders: m, SubReaders: s,
		StallLeft: left(c.faults.stallUntil), GarbageLeft: left(c.faults.garbageUntil),
		OfflineLeft: left(c.faults.offlineUntil), SDPOnly: c.faults.sdpOnly,
		TimestampOffset: c.faults.tsOffset, LostPackets: c.lostPackets.Load(),
	}
}

func durationToTicks(d time.Duration) int64 {
	// d/µs * 90000 / 1e6 keeps the product in range for any sane d.
	return d.Microseconds() * 9 / 100
}

var (
	garbageOnce sync.Once
	garbagePool []byte
)

const garbagePoolSize = 1 << 16

// garbagePayload returns n random bytes (a view into a shared pool; no
// allocation), so every NAL unit type, aggregate and fragment header shows up.
func garbagePayload(n int, rng *uint64) []byte {
	garbageOnce.Do(func() {
		garbagePool = make([]byte, garbagePoolSize)
		r := rand.NewPCG(1, 2)
		for i := 0; i+8 <= len(garbagePool); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8; j++ {
				garbagePool[i+j] = byte(v >> (8 * j))
			}
		}
	})
	if n <= 0 {
		return garbagePool[:0]
	}
	n = min(n, garbagePoolSize/2)
	// xorshift64
	x := *rng
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*rng = x
	off := int(x % uint64(garbagePoolSize-n))
	return garbagePool[off : off+n]
}

// setFaults changes the camera's fault state under its lock and logs what
// changed.
func (c *Camera) setFaults(change func(*faultState), format string, args ...any) {
	c.mu.Lock()
	change(&c.faults)
	c.mu.Unlock()
	c.sim.cfg.Logf("camsim: %s: "+format, append([]any{c.name}, args...)...)
}
