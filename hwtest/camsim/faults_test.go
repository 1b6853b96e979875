package camsim

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
)

const frameTicks = rtpClockRate / FrameRate

// steps returns the timestamp differences between consecutive frames, as
// signed 32-bit values.
func steps(fr []rxPacket) []int32 {
	var out []int32
	for i := 1; i < len(fr); i++ {
		out = append(out, int32(fr[i].ts-fr[i-1].ts))
	}
	return out
}

func waitClosed(t *testing.T, r *reader, within time.Duration) {
	t.Helper()
	select {
	case err := <-r.closed:
		t.Logf("client closed: %v", err)
	case <-time.After(within):
		t.Fatalf("session still open %v after the fault", within)
	}
}

func stillOpen(t *testing.T, r *reader) {
	t.Helper()
	select {
	case err := <-r.closed:
		t.Fatalf("connection closed: %v", err)
	default:
	}
}

// TestFaults has a gortsplib client watch each fault on its own camera.
func TestFaults(t *testing.T) {
	sim := startSim(t, 8)
	url := func(name string) string { return "rtsp://" + sim.Addr() + "/" + name }
	g := together(t)
	defer g.Wait()

	g.Run("drop", func(t *testing.T) {
		cam := sim.Camera("cam1")
		main, sub := mustDial(t, cam.URL()), mustDial(t, cam.SubURL())
		other := mustDial(t, url("cam2/sub"))
		time.Sleep(300 * time.Millisecond)
		cam.Drop()
		waitClosed(t, main, 2*time.Second)
		waitClosed(t, sub, 2*time.Second)
		stillOpen(t, other)
		// The camera takes new connections at once.
		again := mustDial(t, cam.URL())
		time.Sleep(300 * time.Millisecond)
		if n := len(again.packets(time.Time{})); n == 0 {
			t.Error("no packets after reconnecting")
		}
	})

	g.Run("stall", func(t *testing.T) {
		cam := sim.Camera("cam2")
		r := mustDial(t, cam.URL())
		time.Sleep(400 * time.Millisecond)
		const stall = 1500 * time.Millisecond
		cam.Stall(stall)
		time.Sleep(stall + time.Second)
		stillOpen(t, r)
		fr := frames(r.packets(time.Time{}))
		// The frames' timestamps are their wall-clock due times: none may
		// fall in the stall, and the step over it is the stall (the camera's
		// clock kept running).
		var gap time.Duration
		var tsGap int32
		for i := 1; i < len(fr); i++ {
			if d := int32(fr[i].ts - fr[i-1].ts); d > tsGap {
				tsGap, gap = d, fr[i].at.Sub(fr[i-1].at)
			}
		}
		if want := int32(stall.Seconds() * rtpClockRate); tsGap < want || tsGap > want+2*frameTicks {
			t.Errorf("timestamps step %d over the stall, want %d…%d", tsGap, want, want+2*frameTicks)
		}
		if gap < stall-300*time.Millisecond {
			t.Errorf("silence of only %v on the wire, want about %v", gap, stall)
		}
		if after := frames(r.packets(time.Now().Add(-500 * time.Millisecond))); len(after) < 10 {
			t.Errorf("%d frames in the last 0.5 s, want streaming resumed", len(after))
		}
	})

	g.Run("sdp-only", func(t *testing.T) {
		cam := sim.Camera("cam3")
		r := mustDial(t, cam.URL())
		cam.SetSDPOnly(true)
		from := time.Now().Add(100 * time.Millisecond)
		time.Sleep(2300 * time.Millisecond) // more than a GOP
		pkts := r.packets(from)
		if hasParamSets(H264, payloads(pkts)) {
			t.Error("parameter sets in band in sdp-only mode")
		}
		idr := false
		for _, p := range pkts {
			for _, typ := range nalTypes(H264, p.payload) {
				idr = idr || typ == 5
			}
		}
		if !idr {
			t.Error("no key frame in 2.2 s")
		}
		cam.SetSDPOnly(false)
		from = time.Now().Add(100 * time.Millisecond)
		time.Sleep(2300 * time.Millisecond)
		if !hasParamSets(H264, payloads(r.packets(from))) {
			t.Error("parameter sets not back in band")
		}
	})

	g.Run("jump", func(t *testing.T) {
		cam := sim.Camera("cam4")
		r := mustDial(t, cam.URL())
		time.Sleep(300 * time.Millisecond)
		cam.JumpTimestamps(10 * time.Second)
		time.Sleep(300 * time.Millisecond)
		cam.JumpTimestamps(-25 * time.Second)
		time.Sleep(300 * time.Millisecond)
		var odd []int32
		for _, s := range steps(frames(r.packets(time.Time{}))) {
			if s != frameTicks {
				odd = append(odd, s)
			}
		}
		want := []int32{10*rtpClockRate + frameTicks, -25*rtpClockRate + frameTicks}
		if len(odd) != 2 || odd[0] != want[0] || odd[1] != want[1] {
			t.Errorf("timestamp steps other than %d: %v, want %v", frameTicks, odd, want)
		}
	})

	g.Run("wrap", func(t *testing.T) {
		cam := sim.Camera("cam5")
		r := mustDial(t, cam.URL())
		time.Sleep(200 * time.Millisecond)
		called := time.Now()
		cam.WrapTimestamps(time.Second)
		time.Sleep(1800 * time.Millisecond)
		fr := frames(r.packets(called.Add(100 * time.Millisecond)))
		wrapped := 0
		for i := 1; i < len(fr); i++ {
			if fr[i].ts < fr[i-1].ts {
				wrapped++
				if s := fr[i].ts - fr[i-1].ts; s != frameTicks {
					t.Errorf("step %d across the wrap, want %d", s, frameTicks)
				}
				if at := fr[i].at.Sub(called); at < 800*time.Millisecond || at > 3*time.Second {
					t.Errorf("wrapped %v after the call, want about 1 s", at)
				}
			} else if s := fr[i].ts - fr[i-1].ts; s != frameTicks {
				t.Errorf("step %d, want %d", s, frameTicks)
			}
		}
		if wrapped != 1 {
			t.Errorf("timestamp wrapped %d times, want once", wrapped)
		}
	})

	for _, name := range []string{"cam6", "h265"} {
		g.Run("garbage-"+name, func(t *testing.T) {
			cam := sim.Camera(name)
			r := mustDial(t, cam.URL())
			set := clipPayloads(cam.main.clip)
			time.Sleep(200 * time.Millisecond)
			called := time.Now()
			cam.Garbage(time.Second)
			time.Sleep(1500 * time.Millisecond)
			// Place packets by their timestamps (wall-clock due times), not by
			// arrival, which a loaded machine delays.
			var during, from, after []rxPacket
			t0 := rtpTime(called)
			for _, p := range r.packets(called.Add(-time.Second)) {
				at := time.Duration(int32(p.ts-t0)) * time.Second / rtpClockRate
				if at < 0 {
					continue
				}
				switch {
				case at > 100*time.Millisecond && at < 900*time.Millisecond:
					during = append(during, p)
				case at > 1100*time.Millisecond:
					after = append(after, p)
				}
				from = append(from, p)
			}
			clip := 0
			for _, p := range during {
				if set[string(p.payload)] {
					clip++
				}
			}
			if len(during) == 0 || clip > 0 {
				t.Errorf("%d of %d packets during garbage came from the clip", clip, len(during))
			}
			if n := len(frames(during)); n < 19 || n > 21 {
				t.Errorf("%d frames in 0.8 s of garbage, want pacing kept (20)", n)
			}
			for _, p := range after {
				if !set[string(p.payload)] {
					t.Fatal("garbage after the fault ended")
				}
			}
			if len(after) == 0 {
				t.Error("no packets after the garbage")
			}
			if s := steps(frames(from)); len(s) == 0 {
				t.Error("no frames")
			} else {
				for _, v := range s {
					if v != frameTicks {
						t.Errorf("timestamp step %d during garbage, want %d", v, frameTicks)
						break
					}
				}
			}
		})
	}

	g.Run("offline", func(t *testing.T) {
		cam := sim.Camera("cam7")
		r := mustDial(t, cam.URL())
		time.Sleep(200 * time.Millisecond)
		called := time.Now()
		cam.Offline(1500 * time.Millisecond)
		waitClosed(t, r, time.Second)
		if _, err := dial(cam.URL()); err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("connecting while offline: %v, want a 503", err)
		}
		if _, err := dial(cam.SubURL()); err == nil {
			t.Error("sub stream accepted a reader while offline")
		}
		time.Sleep(time.Until(called.Add(1600 * time.Millisecond)))
		back := mustDial(t, cam.URL())
		time.Sleep(300 * time.Millisecond)
		if len(back.packets(time.Time{})) == 0 {
			t.Error("no packets once back online")
		}
	})

	g.Run("clear", func(t *testing.T) {
		cam := sim.Camera("cam8")
		r := mustDial(t, cam.URL())
		cam.SetSDPOnly(true)
		cam.JumpTimestamps(time.Hour)
		cam.Stall(time.Minute)
		cam.Garbage(time.Minute)
		time.Sleep(300 * time.Millisecond)
		cleared := time.Now()
		cam.Clear()
		time.Sleep(2300 * time.Millisecond)
		pkts := r.packets(cleared)
		fr := frames(pkts)
		if len(fr) < 50 {
			t.Fatalf("%d frames in 2.3 s after clear", len(fr))
		}
		if lag := int64(rtpTime(fr[len(fr)-1].at)-fr[len(fr)-1].ts) * 1000 / rtpClockRate; lag < -5 || lag > 500 {
			t.Errorf("timestamps %d ms off the wall clock after clear", lag)
		}
		if !hasParamSets(H264, payloads(pkts)) {
			t.Error("parameter sets not in band after clear")
		}
		set := clipPayloads(cam.main.clip)
		for _, p := range pkts {
			if !set[string(p.payload)] {
				t.Fatal("garbage after clear")
			}
		}
	})
}

// TestNoAllocationPerFrame checks the camera's own per-frame work (fault
// snapshot, choosing payloads, garbage) allocates nothing; what remains per
// packet is gortsplib's.
func TestNoAllocationPerFrame(t *testing.T) {
	sim := startSim(t, 1)
	cam := sim.Camera("cam1")
	cam.Garbage(time.Hour)
	rng := uint64(1)
	i := 0
	// A stream of its own (no readers): the camera's goroutine owns cam.main.
	st := &stream{cam: cam, path: "alloc-test", clip: cam.main.clip}
	allocs := testing.AllocsPerRun(200, func() {
		now := time.Now()
		fs := cam.snapshot(now)
		if !fs.garbage {
			t.Fatal("no garbage fault")
		}
		st.send(i%len(st.clip.Frames), rtpTime(now), now, &fs, &rng) // no readers: nothing written
		for _, p := range cam.main.clip.Frames[i%len(cam.main.clip.Frames)].InBand {
			if g := garbagePayload(len(p), &rng); len(g) != len(p) {
				t.Fatalf("garbage of %d bytes for a %d-byte payload", len(g), len(p))
			}
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
}

func TestLostPacketsCounted(t *testing.T) {
	var logged []string
	sim, err := Start(Config{Listen: "127.0.0.1:0", Cameras: 1, NoH265Camera: true, ClipsDir: clipsDir(t),
		Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cam := sim.Camera("cam1")
	ss := &gortsplib.ServerSession{}
	ss.SetUserData(&sessionInfo{stream: cam.sub})
	logged = nil
	for range 3 {
		sim.handler.OnStreamWriteError(&gortsplib.ServerHandlerOnStreamWriteErrorCtx{Session: ss, Error: errors.New("write queue is full")})
	}
	if got := cam.Status().LostPackets; got != 3 {
		t.Errorf("lost packets %d, want 3", got)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "cam1/sub") {
		t.Errorf("logged %q, want one line naming cam1/sub", logged)
	}
}
