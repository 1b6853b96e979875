package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/lights"
)

// LightsParts are the running lights: the IR controller (nil without
// GPIO, NoGPIOReason then says why) and the status LED (nil without one).
type LightsParts struct {
	IR           *lights.IR
	Status       *lights.StatusLED
	NoGPIOReason string
	// OfficerReset: the pairing button was held at power-on (the
	// physical officer reset; webadmin.Config.OfficerReset).
	OfficerReset bool
	wg           sync.WaitGroup
	// cams hear when the IR LEDs switch (their motion detectors put the
	// scene change down to the box); set by watchStatus.
	cams atomic.Pointer[cameraSet]
	// onPress runs on a press of the pairing button (opens pairing);
	// pairingOpen says whether pairing is open (the LED blinks). Set by
	// the core once pairing exists.
	onPress     atomic.Pointer[func()]
	pairingOpen atomic.Pointer[func() bool]
}

// startLights opens the GPIO lines the board file (MATTHAN_BOARD) names and
// runs the IR controller, the status LED and the pairing button until ctx
// ends. Without a board file or pins it says so in one log line and the
// page reports "no GPIO".
func startLights(ctx context.Context, boardFile string, pub events.Publisher, log *slog.Logger) *LightsParts {
	lp := &LightsParts{}
	none := func(why string) *LightsParts {
		log.Info("lights: "+lights.NoGPIO+": IR LEDs and status LED not driven", "why", why)
		lp.NoGPIOReason = lights.NoGPIO + ": " + why
		return lp
	}
	if boardFile == "" {
		return none("MATTHAN_BOARD not set (no board file)")
	}
	if selfTestBoot() {
		// The self-test drives and reads back every line; a line this
		// process holds would be busy for it.
		return none("this boot runs the technician self-test (matthan.selftest=1), which drives the GPIO lines itself")
	}
	b, err := board.LoadFile(boardFile)
	if err != nil {
		return none(fmt.Sprintf("board file: %v", err))
	}
	if b.GPIO.Chip == "" {
		return none(fmt.Sprintf("board %s has no GPIO pins", b.Name))
	}
	pins, err := lights.OpenBoard(b.GPIO.Pins())
	if err != nil {
		return none(err.Error())
	}
	if pins.IRLED == nil {
		return none(fmt.Sprintf("board %s: IR LED line missing", b.Name))
	}
	ir, err := lights.NewIR(lights.IRConfig{LED: pins.IRLED, Sensor: pins.LightSensor, OnSwitch: func(_ bool, at time.Time) {
		if cs := lp.cams.Load(); cs != nil {
			cs.lightsSwitched(at)
		}
	}})
	if err != nil {
		return none(err.Error())
	}
	run := func(name string, f func(context.Context) error) {
		lp.wg.Add(1)
		go func() {
			defer lp.wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				log.Error("lights: "+name+" stopped", "err", err)
			}
		}()
	}
	run("IR", ir.Run)
	if pins.StatusLED != nil {
		lp.Status = lights.NewStatusLED(pins.StatusLED, nil)
		run("status LED", lp.Status.Run)
	}
	if pins.PairButton != nil {
		btn := &lights.Button{Pin: pins.PairButton, ActiveHigh: b.GPIO.ButtonActiveHigh, OnPress: func() {
			log.Info("lights: pairing button pressed")
			pub.Publish(events.Event{Type: events.Pairing, Start: time.Now(), Text: "Nút ghép nối được bấm / pairing button pressed"})
			if f := lp.onPress.Load(); f != nil {
				(*f)()
			}
		}}
		held, err := btn.HeldAtStart(3*time.Second, 50*time.Millisecond, nil)
		if err != nil {
			log.Error("lights: pairing button unreadable at start", "err", err)
		} else if held {
			lp.OfficerReset = true
			pub.Publish(events.Event{Type: events.Pairing, Start: time.Now(), Reason: "officer_reset",
				Text: "Giữ nút ghép nối khi khởi động: cho phép tạo lại một tài khoản cán bộ / pairing button held at power-on: physical officer reset"})
			log.Warn("lights: pairing button held at power-on: a technician may create one new officer (physical officer reset)")
		}
		run("pairing button", btn.Run)
	}
	lp.IR = ir
	log.Info("lights: GPIO lines open", "board", b.Name, "chip", b.GPIO.Chip, "sensor", pins.LightSensor != nil)
	return lp
}

// watchStatus sets the status LED from the cameras' and the disk's state
// every couple of seconds until ctx ends.
func (lp *LightsParts) watchStatus(ctx context.Context, cams *cameraSet, diskProblem func() bool) {
	lp.cams.Store(cams)
	if lp.Status == nil {
		return
	}
	lp.wg.Add(1)
	go func() {
		defer lp.wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			offline := 0
			for _, c := range cams.CameraStates() {
				if !c.Online {
					offline++
				}
			}
			pairing := false
			if f := lp.pairingOpen.Load(); f != nil {
				pairing = (*f)()
			}
			lp.Status.Set(lights.Choose(false, pairing, diskProblem(), offline))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// selfTestBoot reports whether the kernel command line asks for the
// technician self-test.
func selfTestBoot() bool {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(string(b)) {
		if f == "matthan.selftest=1" {
			return true
		}
	}
	return false
}

// boardFile is the board definition init names in the environment.
func boardFile() string { return os.Getenv("MATTHAN_BOARD") }
